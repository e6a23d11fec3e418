"""The HTML page around a report: escaping, tables, inline images, the style sheet and the script.

One self-contained file: no network, images as ``data:`` URLs or inline SVG, a short inline
script that

- sorts a ``table.sortable`` by the clicked column (cells' ``data-v`` as numbers when given);
- on hovering a row with ``data-edges`` / ``data-nodes`` (space-separated names), highlights
  those edges / boxes in every inline diagram and dims the rest (ids ``…:e:<edge>``,
  ``…:n:<node>``, see :mod:`.figure`);
- copies a code block to the clipboard;
- at ``#selftest`` hovers the first such row, records in ``body[data-highlighted]`` how many
  elements lit up, and sorts the first table by its second column, descending (the browser test
  reads the result); ``body[data-ready]`` says the script ran to its end.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from .drawing import inline_svg

__all__ = ["esc", "table", "png_data_url", "figure_html", "page"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;max-width:1180px;
margin:0 auto;padding:18px 28px 60px;background:#fff}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e3e3e3;
padding-bottom:4px}h3{font-size:14px;margin:16px 0 4px}
p.desc{max-width:880px}dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:13px}
dl.meta dt{color:#666}dl.meta dd{margin:0}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}
table.sortable th{cursor:pointer;user-select:none;background:#f6f7f9}
table.sortable th[data-dir=asc]:after{content:" ▲"}
table.sortable th[data-dir=desc]:after{content:" ▼"}tr[data-edges]:hover,tr[data-nodes]:hover{background:#fff6d6}
tr.fails td{color:#b22222}p.holds{color:#1d6b2a;font-weight:600}p.fails{color:#b22222;font-weight:600}
.scroll.short{max-height:320px;display:block;width:max-content;max-width:100%}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee;display:inline-block}
figure{margin:12px 0;display:inline-block;vertical-align:top;max-width:100%}figure img,figure svg{max-width:100%;
height:auto}figcaption{font-size:12px;color:#555}
pre.code{background:#f6f7f9;border:1px solid #e5e5e5;padding:8px 10px;font-size:12px;overflow:auto;max-width:100%}
button.copy{font-size:11px;margin:0 0 4px}.note{color:#8a5a00;font-size:12px}
svg.dim g[id*=":e:"]{opacity:.08}svg.dim g[id*=":e:"].hl{opacity:1}svg.dim image{opacity:.1}
g.hl[id*=":n:"] path{stroke:#d62728!important;stroke-width:2.5px!important}
"""

_JS = r"""
(function () {
  function key(td) {
    var v = td.getAttribute("data-v");
    if (v !== null && v !== "" && !isNaN(parseFloat(v))) return parseFloat(v);
    return td.textContent.trim();
  }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0];
      var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
      var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", dir);
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[idx]), y = key(b.cells[idx]);
        var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return dir === "asc" ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var byKey = {};
  document.querySelectorAll("svg [id]").forEach(function (el) {
    var m = el.id.match(/:(e|n):(.+)$/);
    if (m) (byKey[m[1] + ":" + m[2]] = byKey[m[1] + ":" + m[2]] || []).push(el);
  });
  function keys(row) {
    var out = [];
    (row.getAttribute("data-edges") || "").split(" ").forEach(function (k) { if (k) out.push("e:" + k); });
    (row.getAttribute("data-nodes") || "").split(" ").forEach(function (k) { if (k) out.push("n:" + k); });
    return out;
  }
  function highlight(row, on) {
    var lit = 0, dim = !!row.getAttribute("data-edges");
    keys(row).forEach(function (k) {
      (byKey[k] || []).forEach(function (el) {
        el.classList.toggle("hl", on); lit += 1;
        if (dim && el.ownerSVGElement) el.ownerSVGElement.classList.toggle("dim", on);
      });
    });
    return lit;
  }
  document.querySelectorAll("tr[data-edges], tr[data-nodes]").forEach(function (row) {
    row.addEventListener("mouseenter", function () { highlight(row, true); });
    row.addEventListener("mouseleave", function () { highlight(row, false); });
  });
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var pre = document.getElementById(b.getAttribute("data-for"));
      var done = function () { b.textContent = "copied"; };
      var select = function () {
        var r = document.createRange(); r.selectNodeContents(pre);
        var s = window.getSelection(); s.removeAllRanges(); s.addRange(r); b.textContent = "selected: press Ctrl+C";
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(pre.textContent).then(done, select);
      } else select();
    });
  });
  if (location.hash === "#selftest") {
    var row = document.querySelector("tr[data-edges], tr[data-nodes]");
    document.body.setAttribute("data-highlighted", String(row ? highlight(row, true) : 0));
    var th = document.querySelectorAll("table.sortable th")[1];
    if (th) { th.click(); th.click(); }
  }
  document.body.setAttribute("data-ready", "1");
})();
"""


def esc(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def table(
    header: Sequence[str], rows: Sequence[tuple[Sequence[tuple[str, object]], dict[str, str]]], table_id: str
) -> str:
    """A sortable table; each row is ``(cells, attributes)``, each cell ``(text, sort value or None)``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for cells, attrs in rows:
        attr = "".join(f' {k}="{esc(v)}"' for k, v in attrs.items() if v)
        tds = "".join(f"<td>{esc(t)}</td>" if v is None else f'<td data-v="{esc(v)}">{esc(t)}</td>' for t, v in cells)
        body.append(f"<tr{attr}>{tds}</tr>")
    return (
        f'<table class="sortable" id="{esc(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def png_data_url(path: Path) -> str:
    """A PNG file as a ``data:`` URL."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def figure_html(png: Path, prefix: str) -> str:
    """A figure of the folder inlined: the same-named ``.svg`` as inline SVG (ids prefixed with
    ``prefix``) where it exists, else the PNG as a ``data:`` URL; ``""`` when neither exists."""
    svg = png.with_suffix(".svg")
    if svg.is_file():
        body, name = inline_svg(svg.read_text(encoding="utf-8"), prefix), svg.name
    elif png.is_file():
        body, name = f'<img alt="{esc(png.name)}" src="{png_data_url(png)}">', png.name
    else:
        return ""
    return f"<figure>{body}<figcaption>{esc(name)}</figcaption></figure>"


def page(title: str, body: str) -> str:
    """The whole HTML document."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        '<link rel="icon" href="data:,">'
        f"<style>{_CSS}</style></head>\n<body>\n{body}\n<script>{_JS}</script>\n</body></html>\n"
    )
