// Progressive enhancement only: every page works without it.
"use strict";

// The page as the server sent it, before the script changed anything (this
// deferred script runs once the document is parsed).
let lastMain = document.querySelector("main")?.innerHTML ?? null;

// One-click sign-in: a link ending in #token=... fills the form and posts it.
// The fragment never leaves the browser, and is wiped from the address bar.
document.addEventListener("DOMContentLoaded", () => {
  const match = /^#token=(.+)$/.exec(window.location.hash);
  const form = document.querySelector("form.sign-in");
  if (match && form) {
    history.replaceState(null, "", window.location.pathname + window.location.search);
    form.querySelector("input[name=token]").value = decodeURIComponent(match[1]);
    form.submit();
  }

  localTimes();
  document.addEventListener("stagecraft:updated", localTimes);
});

// Timestamps in the viewer's local time, with a relative hint.
function localTimes() {
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const el of document.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    const seconds = Math.round((at.getTime() - Date.now()) / 1000);
    const [unit, size] = units.find(([, size]) => Math.abs(seconds) >= size) || units[3];
    el.textContent = at.toLocaleString() + " ";
    const ago = document.createElement("span");
    ago.className = "ago";
    ago.textContent = "(" + relative.format(Math.round(seconds / size), unit) + ")";
    el.appendChild(ago);
  }
}

// Live pages: a page that carries <div id="live" data-every="N"> is fetched
// again every N seconds and its content replaced when it changed, unless
// someone is typing in it. Bounded polling: one request per page per N
// seconds, stopped while the tab is hidden.
document.addEventListener("DOMContentLoaded", () => {
  const marker = document.getElementById("live");
  if (!marker) return;
  const every = Math.max(2, Number(marker.dataset.every) || 5) * 1000;
  const refresh = async () => {
    if (document.hidden) return;
    const active = document.activeElement;
    if (active && active.closest("main") && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok || response.redirected) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("main");
      const main = document.querySelector("main");
      if (fresh && main && fresh.innerHTML !== lastMain) {
        lastMain = fresh.innerHTML;
        main.innerHTML = fresh.innerHTML;
        document.dispatchEvent(new Event("stagecraft:updated"));
      }
    } catch (_) { /* the next tick tries again */ }
  };
  setInterval(refresh, every);
});
