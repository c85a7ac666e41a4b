// Live pages: re-fetch this page's content (?fragment=1) every data-poll milliseconds and swap
// it in, unless the user is typing in a field or the tab is hidden. No framework, no build.
(function () {
  "use strict";
  var main = document.getElementById("content");
  if (!main || !main.dataset.poll) { return; }
  var every = Number(main.dataset.poll) || 2000;
  var state = document.getElementById("live-state");
  function busy() {
    var el = document.activeElement;
    return document.hidden || (el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
  }
  function tick() {
    if (busy()) { return setTimeout(tick, every); }
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        main.innerHTML = html;
        main.dataset.updated = String(Date.now());
        if (state) { state.textContent = "live"; }
      })
      .catch(function () { if (state) { state.textContent = "offline"; } })
      .finally(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
