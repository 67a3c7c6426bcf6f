// Progressive enhancement only: every page works without this file.
// 1) Confirm destructive actions (forms with data-confirm).
// 2) Live SLA timers: elements with data-due (ISO time) show the time left, updated each minute.
// 3) Segment editor: the member count of the rule being typed, from the segments engine
//    (POST .../segments/preview, JSON), shown in the polite live region #preview.
// 4) Survey editor: changing a question's type shows the parts that type uses (scale, choices) at
//    once; without this file they appear after the next round trip.
(function () {
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });
  function fmt(ms) {
    var neg = ms < 0, m = Math.floor(Math.abs(ms) / 60000), h = Math.floor(m / 60), d = Math.floor(h / 24);
    var text = d > 0 ? d + "d " + (h % 24) + "h" : h > 0 ? h + "h " + (m % 60) + "m" : m + "m";
    return neg ? "overdue by " + text : text + " left";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (!isNaN(due)) { el.textContent = fmt(due - now); el.classList.toggle("bad", due < now); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 60000); });
  function preview(form) {
    var out = document.getElementById("preview"), button = form.querySelector("[data-preview]");
    if (!out || !button) { return; }
    var body = new URLSearchParams(new FormData(form));
    fetch(button.getAttribute("formaction"), {method: "POST", body: body, credentials: "same-origin",
                                               headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) { out.textContent = "Rule not valid yet: " + data.error.message; return; }
        out.textContent = "";
        var strong = document.createElement("strong");
        strong.setAttribute("data-testid", "preview-count");
        strong.textContent = data.count.toLocaleString("en");
        out.appendChild(strong);
        out.appendChild(document.createTextNode(" customers match now"));
      })
      .catch(function () { out.textContent = "Preview unavailable; use the Preview count button."; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-segment-editor]");
    if (!form) { return; }
    var timer = null, rule = form.querySelector("textarea[name=rule]"), button = form.querySelector("[data-preview]");
    if (rule) {
      rule.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { preview(form); }, 600); });
    }
    if (button) { button.addEventListener("click", function (ev) { ev.preventDefault(); preview(form); }); }
  });
  document.addEventListener("change", function (ev) {
    var select = ev.target, form = select.form;
    if (!form || !form.hasAttribute("data-survey-editor") || !/^q-\d+-type$/.test(select.name || "")) { return; }
    var row = select.closest("fieldset.question"), choice = (form.getAttribute("data-choice-types") || "").split(" ");
    if (!row) { return; }
    row.querySelectorAll("[data-qpart]").forEach(function (part) {
      var kind = part.getAttribute("data-qpart");
      part.hidden = !(kind === "rating" ? select.value === "rating" : choice.indexOf(select.value) >= 0);
    });
  });
})();
