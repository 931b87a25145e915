"""The report page: one HTML file with inline CSS, inline SVG and a small inline script.

Escaping rules this file keeps: every text placed in markup goes through `page_text` (HTML
escaped, control characters and lone surrogates shown as escapes); the rows go in as JSON inside
`<script type="application/json">` with `<`, `>` and `&` written as `\\u003c`-style escapes, so
no event text can close the element or start markup; the script writes row fields with
`textContent` only. Nothing is fetched: no CDN, no server, no vendored library.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..events import Outcome
from ..text import terminal_safe
from ..verdicts.analysis import analyse
from ..verdicts.thresholds import Thresholds
from ..watch.vendors import VendorCatalog
from .charts import (
    CONNECTION_ABNORMAL,
    CONNECTION_CLEAN,
    INJECTED_STROKE,
    MAX_LANES,
    OUTCOME_COLOURS,
    page_text,
    retry_chart,
    swimlanes,
)
from .fleet_panels import CLIENT_TABLE_SCRIPT, fleet_section
from .model import OUTCOMES, ReportModel, build_model

#: What each outcome means, in plain words, for the legend.
OUTCOME_WORDS = {
    Outcome.ACCEPTED: "the server accepted the WebSocket upgrade (HTTP 101)",
    "rejected": "the server answered with an HTTP error instead (401, 429, 503, ...)",
    "failed": "no usable answer: connection refused, reset, timed out, TLS error",
    "invalid": "the answer broke the WebSocket handshake rules (RFC 6455)",
}

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;
background:#f6f7f9}
main{max-width:1400px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:26px 0 6px}
.lede{color:#444;margin:0 0 12px}.headline{font-size:16px;margin:8px 0}
.note{color:#555;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 12px;min-width:110px}
.card b{display:block;font-size:22px}.card span{color:#555;font-size:12px}
.panel{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 14px;margin:8px 0}
.sev-error{color:#b71c1c;font-weight:600}.sev-warning{color:#e65100;font-weight:600}
.sev-info{color:#1565c0}.sev-ok{color:#2e7d32}
ul{margin:4px 0;padding-left:20px}li{margin:3px 0}.hint{color:#555}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .client{font-weight:600;font-size:12px}
svg .counts{fill:#666;font-size:10px}svg .code{font-size:10px;fill:#333}
svg .tick{fill:#777;font-size:10px}svg .axis{fill:#444;font-size:11px}
svg .grid{stroke:#e3e6ea}svg .even{fill:#fff}svg .odd{fill:#f3f5f8}
svg .mk{cursor:pointer}svg .mk:hover,svg .mk.sel{stroke:#000;stroke-width:2}
svg .envelope{fill:#90caf9;fill-opacity:.35;stroke:#64b5f6}
svg .retry-after{stroke:#b71c1c;stroke-width:3;stroke-dasharray:4 2}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px}
.legend svg{vertical-align:middle}
.layout{display:grid;grid-template-columns:minmax(0,1fr) 300px;gap:18px}
#detail{position:sticky;top:8px;align-self:start;max-height:calc(100vh - 16px);overflow:auto;
background:#fffbe6;border:1px solid #e6d57a;border-radius:6px;padding:8px 12px;font-size:13px;
margin-top:40px}
#detail dl{grid-template-columns:1fr}#detail dt{font-size:11px;margin-top:3px}
#detail dl{display:grid;gap:0;margin:4px 0}
#detail dt{color:#666}#detail dd{margin:0;word-break:break-word}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:6px 0}
.filters label{font-size:12px;color:#444}.filters select{max-width:220px}
#table{background:#fff;border:1px solid #dde1e6;border-radius:6px}
.tr{display:grid;grid-template-columns:64px 140px 150px 90px 50px 120px 1fr;gap:8px;
padding:0 8px;height:26px;align-items:center;border-bottom:1px solid #eef0f3;
white-space:nowrap;overflow:hidden;font-size:12.5px;cursor:pointer}
.tr>span{overflow:hidden;text-overflow:ellipsis}
.th{font-weight:600;background:#eef1f5;cursor:default}
#scroller{height:440px;overflow-y:auto;position:relative}
#spacer{position:relative}.tr.sel{background:#fff3c4}
.client-row{grid-template-columns:170px 70px 70px 70px 1fr}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;
vertical-align:-1px}
"""

_SCRIPT = r"""
(function(){
"use strict";
var rows=JSON.parse(document.getElementById("rows").textContent);
var colours=JSON.parse(document.getElementById("colours").textContent);
var LABELS={kind:"what",at:"time (s)",client:"client",host:"host",path:"path",
outcome:"outcome",status:"HTTP status",reason:"reason",error:"vendor error",
vendor:"vendor",request_id:"request id",hint:"hint",retry_after:"Retry-After (s)",
gap_s:"wait before it (s)",number:"attempt number",failure:"failure kind",
close_code:"close code",meaning:"close code meaning",closed_by:"closed by",
clean:"clean close",violation:"RFC 6455 rule broken",violated_by:"broken by",
duration_s:"connection lasted (s)",duration_ms:"handshake took (ms)",
injected:"injected by wswatch",rule_id:"fault rule",body_excerpt:"response body",
injected_to_client:"messages wswatch sent to the client",
injected_to_server:"messages wswatch sent to the server",
url:"url",flow_id:"flow id"};
var detail=document.getElementById("detail");
var selected=-1;
function show(i){
  var row=rows[i];if(!row)return;selected=i;
  var marks=document.querySelectorAll(".mk.sel");
  for(var m=0;m<marks.length;m++)marks[m].classList.remove("sel");
  var mine=document.querySelectorAll('.mk[data-row="'+i+'"]');
  for(var n=0;n<mine.length;n++)mine[n].classList.add("sel");
  detail.textContent="";
  var head=document.createElement("b");
  head.textContent=(row.kind==="attempt"?"Attempt ":"Close ")+"#"+i+" by "+row.client;
  detail.appendChild(head);
  var dl=document.createElement("dl");
  Object.keys(LABELS).forEach(function(key){
    if(row[key]===undefined||key==="client")return;
    var dt=document.createElement("dt");dt.textContent=LABELS[key];
    var dd=document.createElement("dd");dd.textContent=String(row[key]);
    dl.appendChild(dt);dl.appendChild(dd);
  });
  detail.appendChild(dl);
  render();
}
function onMark(event){
  var target=event.target.closest?event.target.closest("[data-row]"):null;
  if(target)show(+target.getAttribute("data-row"));
}
["lanes","retries"].forEach(function(id){
  var svg=document.getElementById(id);if(!svg)return;
  svg.addEventListener("mouseover",onMark);svg.addEventListener("click",onMark);
  svg.addEventListener("focusin",onMark);
});
var FILTERS=[["outcome","outcome"],["client","client"],["host","host"],
["status","HTTP status"],["close_code","close code"]];
var chosen={};
var filterBox=document.getElementById("filters");
FILTERS.forEach(function(pair){
  var key=pair[0],seen={};
  rows.forEach(function(row){if(row[key]!==undefined)seen[row[key]]=true;});
  var label=document.createElement("label");label.textContent=pair[1]+" ";
  var select=document.createElement("select");select.id="filter-"+key;
  var all=document.createElement("option");all.value="";all.textContent="all";
  select.appendChild(all);
  Object.keys(seen).sort().forEach(function(value){
    var option=document.createElement("option");option.value=value;option.textContent=value;
    select.appendChild(option);
  });
  select.addEventListener("change",function(){chosen[key]=select.value;refilter();});
  label.appendChild(select);filterBox.appendChild(label);
});
var count=document.getElementById("shown");
var scroller=document.getElementById("scroller");
var spacer=document.getElementById("spacer");
var ROW=27,visible=[];
function refilter(){
  visible=[];
  for(var i=0;i<rows.length;i++){
    var row=rows[i],ok=true;
    for(var key in chosen){
      if(chosen[key]!==""&&String(row[key])!==chosen[key]){ok=false;break;}
    }
    if(ok)visible.push(i);
  }
  count.textContent=visible.length+" of "+rows.length+" rows";
  spacer.style.height=(visible.length*ROW)+"px";
  render();
}
function cell(text,title){
  var span=document.createElement("span");span.textContent=text;
  if(title)span.title=title;return span;
}
function render(){
  var first=Math.max(0,Math.floor(scroller.scrollTop/ROW)-5);
  var last=Math.min(visible.length,first+Math.ceil(scroller.clientHeight/ROW)+10);
  spacer.textContent="";
  for(var k=first;k<last;k++){
    var i=visible[k],row=rows[i];
    var line=document.createElement("div");
    line.className="tr"+(i===selected?" sel":"");
    line.style.position="absolute";line.style.top=(k*ROW)+"px";
    line.style.left="0";line.style.right="0";
    line.setAttribute("data-row",i);
    var what=cell(row.outcome);
    var dot=document.createElement("i");dot.className="dot";
    dot.style.background=colours[row.outcome]||"#999";
    what.insertBefore(dot,what.firstChild);
    if(row.injected)what.appendChild(document.createTextNode(" (injected)"));
    var code=row.close_code===undefined?"":String(row.close_code);
    if(row.closed_by)code+=" by "+row.closed_by;
    var says=[row.meaning,row.error,row.reason,row.hint].filter(function(v){
      return v!==undefined;}).join(" \u2014 ");
    [cell(row.at.toFixed(3)),cell(row.client,row.client),what,cell(row.host||"",row.path),
     cell(row.status===undefined?"":String(row.status)),cell(code),cell(says,says)
    ].forEach(function(c){line.appendChild(c);});
    line.addEventListener("click",function(){show(+this.getAttribute("data-row"));});
    spacer.appendChild(line);
  }
}
scroller.addEventListener("scroll",render);
refilter();
})();
"""


#: `terminal_safe`, remembered: a big session repeats the same hosts, reasons and hints.
_shown_text = functools.lru_cache(maxsize=65_536)(terminal_safe)


def _visible(value: Any) -> Any:
    """`value` with every string as the charts show it: encodable, control characters escaped.
    Keys are the report's own field names, left as they are."""
    if isinstance(value, str):
        return _shown_text(value)
    if isinstance(value, dict):
        return {key: _visible(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_visible(item) for item in value]
    return value


def _json_for_script(value: Any) -> str:
    """JSON that cannot end its <script> element or open markup, whatever the strings hold."""
    text = json.dumps(_visible(value), ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "no attempts"
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _cards(model: ReportModel) -> str:
    attempts = sum(model.attempts.values())
    cards = [("attempts", attempts, "WebSocket upgrade attempts")]
    cards += [(outcome, model.attempts[outcome], outcome) for outcome in OUTCOMES]
    cards += [
        ("real-failures", model.real_failures, "real failures (not injected)"),
        ("injected-failures", model.injected_failures, "failures injected by wswatch"),
        ("clients", model.fleet.clients if model.fleet else len(model.lanes), "clients"),
    ]
    return "".join(
        f'<div class="card" data-count="{key}"><b>{value}</b><span>{page_text(label)}</span></div>'
        for key, value, label in cards
    )


def _headline(model: ReportModel) -> str:
    """One sentence: which clients misbehaved, worst first."""
    if model.verdicts is None or not model.lanes:
        return ""
    if model.fleet is not None:
        counts = model.fleet.by_worst
        return (
            f'<p class="headline" id="headline"><b>In short:</b> {model.fleet.clients} clients, '
            f"{counts['error']} with errors and {counts['warning']} with warnings. "
            f"{model.real_failures} real failures and {model.injected_failures} failures "
            "injected by wswatch on purpose.</p>"
        )
    by_worst: dict[str, list[str]] = {}
    for lane in model.lanes:
        by_worst.setdefault(lane.worst or "ok", []).append(lane.client)
    named = [
        f"{len(by_worst[worst])} with {worst}s ({', '.join(by_worst[worst][:5])}"
        + (", ..." if len(by_worst[worst]) > 5 else "")
        + ")"
        for worst in ("error", "warning")
        if worst in by_worst
    ]
    verdict = "; ".join(named) if named else "none misbehaved"
    return (
        f'<p class="headline" id="headline"><b>In short:</b> {len(model.lanes)} '
        f"client{'' if len(model.lanes) == 1 else 's'}, "
        f"{page_text(verdict)}. {model.real_failures} real failures and "
        f"{model.injected_failures} failures injected by wswatch on purpose.</p>"
    )


def _reasons(model: ReportModel) -> str:
    if not model.top_reasons:
        return "<p>No attempt failed.</p>"
    items = "".join(
        f"<li><b>{reason.count}\u00d7</b> {page_text(reason.reason)}"
        + (f'<br><span class="hint">{page_text(reason.hint)}</span>' if reason.hint else "")
        + "</li>"
        for reason in model.top_reasons
    )
    return f'<ol id="reasons">{items}</ol>'


def _verdicts(model: ReportModel) -> str:
    verdicts = model.verdicts
    if verdicts is None:
        return ""
    lines = []
    for lane in model.lanes:
        worst = lane.worst or "ok"
        findings = verdicts.of(lane.client)
        described = "".join(
            f'<li><span class="sev-{page_text(f.severity.label)}">{page_text(f.severity.label)}'
            f"</span> {page_text(f.rule)}: {page_text(f.summary)}"
            + (f'<br><span class="hint">{page_text(f.hint)}</span>' if f.hint else "")
            + "</li>"
            for f in findings
        )
        lines.append(
            f'<li data-client="{page_text(lane.client)}"><b>{page_text(lane.client)}</b>: '
            f'<span class="sev-{page_text(worst)}">{page_text(worst)}</span>'
            f"{f'<ul>{described}</ul>' if described else ' (nothing to report)'}</li>"
        )
    lane_clients = {lane.client for lane in model.lanes}
    fleet = [f for f in verdicts.findings if f.client_id not in lane_clients]
    lines.extend(
        f'<li><b>{page_text(f.client_id)}</b>: <span class="sev-{page_text(f.severity.label)}">'
        f"{page_text(f.severity.label)}</span> {page_text(f.rule)}: {page_text(f.summary)}</li>"
        for f in fleet
    )
    return (
        '<section class="panel" id="verdicts"><h2>Client verdicts: how each client '
        'reconnects</h2><p class="note">The same rules as <code>wswatch analyse</code>: '
        "error = hammers or misleads the server, warning = departs from good practice "
        "(RFC 6455 7.2.3, gRPC backoff), info = worth knowing.</p>"
        f"<ul>{''.join(lines)}</ul></section>"
    )


def _legend() -> str:
    items = [
        f'<span><svg width="14" height="14"><circle cx="7" cy="7" r="5.5" fill="{colour}"/>'
        f"</svg> <b>{outcome}</b>: {page_text(OUTCOME_WORDS[outcome])}</span>"
        for outcome, colour in OUTCOME_COLOURS.items()
    ]
    items += [
        f'<span><svg width="16" height="16"><path d="M8 1l7 7l-7 7l-7-7z" fill="#c62828" '
        f'stroke="{INJECTED_STROKE}" stroke-dasharray="2 1.5"/></svg> diamond with a dashed '
        "edge: a fault wswatch injected on purpose (not a real failure)</span>",
        f'<span><svg width="40" height="12"><rect x="0" y="2" width="34" height="8" '
        f'fill="{CONNECTION_CLEAN}" fill-opacity=".55"/><rect x="33" y="0" width="4" '
        f'height="12" fill="{CONNECTION_CLEAN}"/></svg> an open WebSocket connection; it ends '
        "in its close code and who closed it (client, server or proxy)</span>",
        f'<span><svg width="40" height="12"><rect x="0" y="2" width="34" height="8" '
        f'fill="{CONNECTION_ABNORMAL}" fill-opacity=".55"/><rect x="33" y="0" width="4" '
        f'height="12" fill="{CONNECTION_ABNORMAL}"/></svg> a connection that ended badly '
        "(no close frame, e.g. 1006, or an error code)</span>",
    ]
    return f'<div class="legend" id="legend">{"".join(items)}</div>'


def render_page(model: ReportModel, title: str, thresholds: Thresholds | None = None) -> str:
    """The whole HTML document of a report."""
    colours = {**OUTCOME_COLOURS, "closed clean": CONNECTION_CLEAN}
    colours["closed abnormally"] = CONNECTION_ABNORMAL
    more_lanes = len(model.lanes) - MAX_LANES
    dropped = (
        f'<p class="note">The proxy kept only its latest events: {model.events_dropped} '
        "earlier ones are not in this report.</p>"
        if model.events_dropped
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{page_text(title)}</title><style>{_STYLE}</style></head><body><main>"
        f'<div class="layout"><div class="content"><h1>{page_text(title)}</h1>'
        '<p class="lede">wswatch sat between WebSocket clients and their server and recorded '
        "every connection attempt and every connection end. This page shows who connected, "
        f"what went wrong, and how each client retried. Session start: {_when(model.started)}, "
        f"length {model.span_s:.1f} s.</p>{dropped}"
        f'{_headline(model)}<section id="summary"><div class="cards">{_cards(model)}</div>'
        '<div class="panel"><h2>Top failure reasons</h2>'
        f"{_reasons(model)}</div></section>"
        f"{fleet_section(model.fleet) if model.fleet else ''}{_verdicts(model)}"
        "<h2>How to read the charts</h2>"
        f"{_legend()}"
        "<h2>Timeline: one lane per client</h2>"
        '<p class="note">Time runs left to right from the first attempt. Hover or click a '
        "mark to see its details in the yellow box on the right; a lane with very many "
        "attempts shows them as stacked columns (hover a column for its counts)."
        + (f" {more_lanes} more clients are only in the table." if more_lanes > 0 else "")
        + f"</p>{swimlanes(model)}"
        "<h2>Retry spacing: how long each client waited before trying again</h2>"
        '<p class="note">Each line is a client; each point is one attempt, placed at the wait '
        "since that client's previous attempt (log scale: every grid line is 10\u00d7 the one "
        "below). Points low on the chart are fast retries; a client that backs off well climbs "
        "inside the blue band (the gRPC reference backoff: 1 s, then \u00d71.6 per retry, "
        "\u00b120 %, capped). Red dashes: the Retry-After the server asked for.</p>"
        f"{retry_chart(model, thresholds)}"
        "<h2>Every attempt and close</h2>"
        + (
            f'<p class="note">Of the {len(model.fleet.shown)} clients shown above; every '
            "client is in the client table.</p>"
            if model.fleet
            else ""
        )
        + ""
        '<div class="filters" id="filters"><span id="shown"></span></div>'
        '<div id="table"><div class="tr th"><span>time (s)</span><span>client</span>'
        "<span>outcome</span><span>host</span><span>status</span><span>close code</span>"
        "<span>meaning, vendor error, reason, hint</span></div>"
        '<div id="scroller"><div id="spacer"></div></div></div></div>'
        '<aside id="detail"><b>Details</b><p>Hover or click a mark on a chart, or click a '
        "table row, to see everything wswatch recorded about it.</p></aside></div>"
        f'<script type="application/json" id="rows">'
        f"{_json_for_script([row.fields() for row in model.rows])}</script>"
        f'<script type="application/json" id="colours">{_json_for_script(colours)}</script>'
        f"{_client_table_data(model)}"
        f"<script>{_SCRIPT}</script></main></body></html>"
    )


def _client_table_data(model: ReportModel) -> str:
    """The client table's lines and its script. Each line is an array, its worst finding and
    its rules an index into a list of the distinct ones, so 100,000 clients stay a few MB."""
    if model.fleet is None:
        return ""
    worsts: dict[str, int] = {}
    rules: dict[str, int] = {}
    lines = [
        [
            line.client,
            line.attempts,
            line.episodes,
            worsts.setdefault(line.worst, len(worsts)),
            rules.setdefault(line.rules, len(rules)),
        ]
        for line in model.fleet.table
    ]
    table = {"worsts": list(worsts), "rules": list(rules), "lines": lines}
    return (
        f'<script type="application/json" id="clients">{_json_for_script(table)}</script>'
        f"<script>{CLIENT_TABLE_SCRIPT}</script>"
    )


def build_report(
    events: Iterable[Mapping[str, Any]],
    catalog: VendorCatalog | None = None,
    thresholds: Thresholds | None = None,
    title: str = "wswatch session report",
    events_dropped: int = 0,
    on_client: Callable[[int, int], None] | None = None,
    named: Sequence[str] = (),
) -> str:
    """The HTML report of an event stream in time order: rows, lanes, charts and verdicts.
    `on_client` hears how the grading goes (done, total), for a progress line; `named` clients
    get a lane even in a fleet too big for one each."""
    kept = list(events)
    idle_timeouts = catalog.idle_timeouts if catalog is not None else {}
    verdicts = analyse(kept, thresholds or Thresholds(), idle_timeouts, on_client)
    model = build_model(kept, catalog, verdicts, events_dropped, named)
    return render_page(model, title, thresholds)
