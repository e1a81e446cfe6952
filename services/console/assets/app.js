// After an htmx swap: move focus to the updated region's heading and
// announce the change in the live region, so screen-reader and keyboard
// users learn what happened. Texts come from the page (Fluent), not from here.
(function () {
  function announce(text) {
    var live = document.getElementById('announce');
    if (!live || !text) return;
    live.textContent = '';
    // A fresh text node is announced even when the text repeats.
    setTimeout(function () { live.textContent = text; }, 50);
  }
  document.addEventListener('htmx:beforeRequest', function (e) {
    var t = e.detail.target;
    if (t) t.setAttribute('aria-busy', 'true');
    announce(document.body.dataset.loading);
  });
  document.addEventListener('htmx:afterRequest', function () {
    // The response may have been retargeted (an error goes to #messages),
    // so clear every busy mark, not only the current target's.
    document.querySelectorAll('[aria-busy]').forEach(function (x) { x.removeAttribute('aria-busy'); });
  });
  document.addEventListener('htmx:afterSettle', function (e) {
    var el = e.detail.elt;
    if (!el || !el.isConnected) {
      el = document.getElementById(e.detail.target && e.detail.target.id) || null;
    }
    if (!el) return;
    var focus = el.matches('[data-focus]') ? el : el.querySelector('[data-focus], h2[tabindex="-1"], h2, [tabindex="-1"]');
    if (focus) {
      if (!focus.hasAttribute('tabindex')) focus.setAttribute('tabindex', '-1');
      focus.focus();
    }
    var region = el.closest('[data-announce]') || el.querySelector('[data-announce]');
    announce(region ? region.dataset.announce : document.body.dataset.updated);
  });
})();
