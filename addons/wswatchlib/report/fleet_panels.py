"""The fleet panels of a many-client report: inline SVG bars and a paged client table.

Same escaping rules as page.py: text in markup through `page_text`, data for the script as JSON
in a `<script type="application/json">` element (written by page.py's `_json_for_script`), and
the script sets text with `textContent` only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from .charts import page_text
from .fleet_view import ATTEMPT_BARS, TIME_BARS, WAIT_EDGES_S, FleetView

#: Clients per page of the client table.
PAGE_SIZE = 50

_WIDTH, _HEIGHT, _LEFT, _BOTTOM = 640, 150, 44, 22


def _bars(chart_id: str, counts: Sequence[int], labels: Sequence[str], unit: str) -> str:
    """A bar chart: one bar per count, its label under every few bars, a tooltip on each."""
    top = max(counts, default=0) or 1
    width = (_WIDTH - _LEFT) / max(1, len(counts))
    every = max(1, len(counts) // 12)
    parts = [
        f'<svg id="{chart_id}" width="{_WIDTH}" height="{_HEIGHT + _BOTTOM}" role="img">',
        f'<text class="tick" x="{_LEFT - 4}" y="10" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{_LEFT - 4}" y="{_HEIGHT}" text-anchor="end">0</text>',
    ]
    for index, (count, label) in enumerate(zip(counts, labels, strict=True)):
        height = _HEIGHT * count / top
        x = _LEFT + index * width
        parts.append(
            f'<rect class="bar" data-count="{count}" x="{x:.1f}" y="{_HEIGHT - height:.1f}" '
            f'width="{max(1.0, width - 1):.1f}" height="{height:.1f}" fill="#5c6bc0">'
            f"<title>{page_text(label)}: {count} {page_text(unit)}</title></rect>"
        )
        if index % every == 0:
            parts.append(
                f'<text class="tick" x="{x + width / 2:.1f}" y="{_HEIGHT + 14}" '
                f'text-anchor="middle">{page_text(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _wait_labels() -> list[str]:
    labels = [f"< {WAIT_EDGES_S[0]:g} s"]
    labels += [f"{low:g}-{high:g} s" for low, high in itertools.pairwise(WAIT_EDGES_S)]
    return [*labels, f"> {WAIT_EDGES_S[-1]:g} s"]


def _time_labels(span_s: float) -> list[str]:
    width = span_s / TIME_BARS if span_s > 0 else 0.0
    return [f"{index * width:.0f} s" for index in range(TIME_BARS)]


def fleet_section(view: FleetView) -> str:
    """Distributions over every client, the count by worst finding, and the client table."""
    attempt_labels = [str(n) for n in range(1, ATTEMPT_BARS)] + [f"{ATTEMPT_BARS}+"]
    worst = "".join(
        f'<div class="card" data-worst="{label}"><b>{count}</b>'
        f"<span>clients whose worst is {label}</span></div>"
        for label, count in view.by_worst.items()
    )
    early = (
        f"{view.early} of the {view.after_retry_after} retries that followed a Retry-After came "
        "before it (red in the verdicts: retry-after)."
        if view.after_retry_after
        else "No answer asked for a Retry-After."
    )
    return (
        '<section id="fleet"><h2>The fleet</h2>'
        f'<p class="note">{view.clients} clients: too many for a lane each. The timeline and '
        f"the table of attempts show the {len(view.shown)} worst (and any named with "
        "<code>wswatch report --client ID</code>); the charts below count every client, and "
        "every client is one line of the client table.</p>"
        f'<div class="cards">{worst}</div>'
        '<div class="panel"><h2>Attempts per client</h2>'
        '<p class="note">How many upgrade attempts each client made in the session: a healthy '
        "fleet is one tall bar at 1.</p>"
        f"{_bars('attempts-per-client', view.attempt_bars, attempt_labels, 'clients')}</div>"
        '<div class="panel"><h2>Waits before each retry</h2>'
        '<p class="note">Every retry of every client, by how long it waited since its previous '
        f"attempt (each bar doubles the one before, as a backoff does). {page_text(early)}</p>"
        f"{_bars('retry-waits', view.wait_bars, _wait_labels(), 'retries')}</div>"
        '<div class="panel"><h2>Attempts over time</h2>'
        '<p class="note">Attempts started in each slice of the session: a herd of clients '
        "reconnecting at once after a mass disconnect is a spike.</p>"
        f"{_bars('attempts-over-time', view.time_bars, _time_labels(view.span_s), 'attempts')}"
        "</div>"
        '<div class="panel"><h2>Every client</h2>'
        '<div class="filters"><label>worst <select id="client-worst"><option value="">any'
        "</option><option>error</option><option>warning</option><option>info</option>"
        '<option>ok</option></select></label><button id="client-prev">previous</button>'
        '<span id="client-page"></span><button id="client-next">next</button></div>'
        '<div id="client-table"></div></div></section>'
    )


#: The client table's script: pages of PAGE_SIZE lines, filtered by worst finding.
CLIENT_TABLE_SCRIPT = (
    r"""
(function(){
"use strict";
var data=document.getElementById("clients");if(!data)return;
var table=JSON.parse(data.textContent);
var clients=table.lines.map(function(c){
  return [c[0],c[1],c[2],table.worsts[c[3]],table.rules[c[4]]];});
var size="""
    + str(PAGE_SIZE)
    + r""",page=0,visible=clients;
var list=document.getElementById("client-table"),label=document.getElementById("client-page");
var worst=document.getElementById("client-worst");
function cell(text){var s=document.createElement("span");s.textContent=text;return s;}
function draw(){
  var pages=Math.max(1,Math.ceil(visible.length/size));page=Math.min(page,pages-1);
  list.textContent="";
  var head=document.createElement("div");head.className="tr th client-row";
  ["client","attempts","episodes","worst","rules"].forEach(function(t){head.appendChild(cell(t));});
  list.appendChild(head);
  visible.slice(page*size,(page+1)*size).forEach(function(c){
    var line=document.createElement("div");line.className="tr client-row";
    line.dataset.client=c[0];
    [c[0],String(c[1]),String(c[2]),c[3],c[4]].forEach(function(t,i){
      var s=cell(t);if(i===3)s.className="sev-"+t;line.appendChild(s);});
    list.appendChild(line);
  });
  label.textContent=" page "+(page+1)+" of "+pages+" ("+visible.length+" clients) ";
}
worst.addEventListener("change",function(){
  visible=worst.value?clients.filter(function(c){return c[3]===worst.value;}):clients;
  page=0;draw();});
document.getElementById("client-prev").addEventListener("click",function(){
  if(page>0){page--;draw();}});
document.getElementById("client-next").addEventListener("click",function(){
  if((page+1)*size<visible.length){page++;draw();}});
draw();
})();
"""
)
