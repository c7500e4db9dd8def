// Progressive enhancement only: every page works without it.
"use strict";

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

  // Timestamps in the viewer's local time, with a relative hint.
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
});
