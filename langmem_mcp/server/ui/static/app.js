// The memory browser's only script: live updates. Every second (while the tab is visible) each
// live region asks the server for the version of what it shows; when one has moved, the page is
// fetched again and its live regions are swapped in place: no reload, forms and scroll kept.
// Plain JavaScript, no libraries, nothing fetched from anywhere but this server.
(() => {
  "use strict";
  const POLL_MS = 1000;
  const status = document.getElementById("live-status");
  let busy = false;
  let updatedAt = null;

  const regions = () => Array.from(document.querySelectorAll("[data-live-region][data-live-url]"));

  function show(state, text) {
    if (!status) return;
    status.hidden = false;
    status.dataset.state = state;
    status.textContent = text;
  }

  function showLive() {
    const when = updatedAt ? " · updated " + updatedAt.toLocaleTimeString() : "";
    show("live", "live" + when);
  }

  async function refresh() {
    const res = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (res.status === 404) {
      show("gone", "this was deleted meanwhile");
      return false;
    }
    if (!res.ok) return false;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const old of document.querySelectorAll("[data-live-region], [data-live-also]")) {
      const fresh = old.id ? doc.getElementById(old.id) : null;
      if (fresh) old.replaceWith(document.importNode(fresh, true));
    }
    updatedAt = new Date();
    document.dispatchEvent(new CustomEvent("langmem:updated"));
    return true;
  }

  async function check() {
    if (busy || document.hidden) return;
    const live = regions();
    if (!live.length) return;
    busy = true;
    try {
      let stale = false;
      for (const region of live) {
        const res = await fetch(region.dataset.liveUrl, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
        });
        if (!res.ok) {
          show("offline", res.status === 401 || res.redirected ? "logged out" : "not live (" + res.status + ")");
          return;
        }
        const body = await res.json();
        if (body.version !== region.dataset.version) stale = true;
      }
      if (stale && !(await refresh())) return;
      showLive();
    } catch (err) {
      show("offline", "server unreachable · retrying");
    } finally {
      busy = false;
    }
  }

  if (regions().length) {
    showLive();
    setInterval(check, POLL_MS);
    document.addEventListener("visibilitychange", check);
  }
})();
