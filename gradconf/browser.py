"""Headless-Chromium checks of the built HTML book: each page loads, its figures decode, its math is
typeset, no error text.

Chromium runs with the network blocked (a reader offline must see the same page) and ``--dump-dom`` on
a copy of each page that carries a small script. After the window's ``load`` event and MathJax's queue,
the script writes a JSON report into the DOM: every ``<img>`` with its decoded size, the page text and
how many formulas MathJax typeset. A second call takes a screenshot of each page.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ERROR_PATTERNS: tuple[str, ...] = ("Traceback (most recent call last)", "PapermillExecutionError",
                                   "CellExecutionError", "No key '")

_PROBE = """
<script>
function gradconfReport() {
  var imgs = Array.prototype.map.call(document.images, function (im) {
    return {src: im.getAttribute("src"), complete: im.complete, width: im.naturalWidth, height: im.naturalHeight};
  });
  var main = document.querySelector("main") || document.body;
  var report = {title: document.title, images: imgs, text: main.innerText,
                mathjax: !!(window.MathJax && window.MathJax.Hub),
                typeset: document.querySelectorAll(".MathJax, .MathJax_Display, .MathJax_SVG").length};
  var pre = document.createElement("pre");
  pre.id = "gradconf-report";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
}
window.addEventListener("load", function () {
  // MathJax 2: once it has started, its queue runs the report after the page's typesetting
  var waited = 0;
  (function poll() {
    var mj = window.MathJax;
    if (mj && mj.Hub && !mj.isReady && waited < 10000) { waited += 200; setTimeout(poll, 200); return; }
    if (mj && mj.Hub && mj.Hub.Queue) { mj.Hub.Queue(gradconfReport); } else { gradconfReport(); }
  })();
});
</script>
"""

# The network is blocked: every host resolves to nothing and any proxied request goes to a closed port;
# file:// pages and their local assets still load.
OFFLINE_FLAGS = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                 "--proxy-bypass-list=<-loopback>")
_BASE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--hide-scrollbars", "--mute-audio", *OFFLINE_FLAGS)
RAW_TEX = re.compile(r"\\[()\[\]]|\$\$|\\(frac|sum|langle|mathcal|operatorname)\b")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on PATH, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(chromium: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium, *_BASE_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def check_page(html: str | Path, chromium: str, timeout: float = 60) -> dict:
    """Load ``html`` in headless Chromium; return its title, images (decoded or not) and error lines."""
    html = Path(html).resolve()
    probe = html.with_name(f".gradconf-check-{html.name}")
    source = html.read_text(encoding="utf-8")
    probe.write_text(re.sub(r"</body>", _PROBE + "</body>", source, count=1), encoding="utf-8")
    try:
        proc = _run(chromium, ["--virtual-time-budget=15000", "--dump-dom", probe.as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    match = re.search(r'<pre id="gradconf-report"[^>]*>(.*?)</pre>', proc.stdout, re.S)  # themes add attributes
    if match is None:
        return {"page": html.name, "loaded": False, "images": [], "broken_images": [], "errors": [],
                "stderr": proc.stderr[-2000:]}
    import html as html_lib

    report = json.loads(html_lib.unescape(match.group(1)))
    broken = [im["src"] for im in report["images"] if not (im["complete"] and im["width"] > 0)]
    errors = [line for line in report["text"].splitlines() if any(p in line for p in ERROR_PATTERNS)]
    raw_tex = [line.strip()[:120] for line in report["text"].splitlines() if RAW_TEX.search(line)]
    return {"page": html.name, "loaded": True, "title": report["title"], "images": report["images"],
            "broken_images": broken, "errors": errors, "raw_tex": raw_tex, "mathjax": report.get("mathjax", False),
            "typeset": report.get("typeset", 0)}


def screenshot(html: str | Path, png: str | Path, chromium: str, size: tuple[int, int] = (1280, 2400),
               timeout: float = 60) -> Path:
    """Save a screenshot of ``html`` (top ``size`` pixels) to ``png``."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(chromium, [f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=10000",
                    f"--screenshot={png}", Path(html).resolve().as_uri()], timeout)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot of {html}")
    return png
