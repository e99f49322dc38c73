/* The content editor's buttons: preview, save the draft, publish, send a test, roll
   back. Each calls the content API (api/routes/content.py) under this page's own path,
   signed in as the page is, with the header that tells the API it is the dashboard's
   own call. */
(function () {
  "use strict";
  var editor = document.getElementById("editor");
  var base = "/dashboard/content/" + editor.dataset.kind + "/" + editor.dataset.name;
  var status = document.getElementById("status");
  var problems = document.getElementById("problems");

  function parts() {
    var found = {};
    document.querySelectorAll("textarea.part").forEach(function (t) { found[t.dataset.part] = t.value; });
    return found;
  }

  function sample(body) {
    var who = document.getElementById("preview-customer").value.trim();
    var variant = document.getElementById("preview-variant");
    if (who) body.customer_id = who;
    if (variant) body.data = {variant: variant.value};
    return body;
  }

  function call(method, path, body) {
    return fetch(base + path, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Sojourn-Dashboard": "1"},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = {detail: text}; }
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  function say(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "problems";
    status.dataset.state = ok ? "ok" : "refused";
  }

  function list(found) {
    problems.textContent = "";
    (found || []).forEach(function (p) {
      var li = document.createElement("li");
      li.dataset.part = p.part;
      li.dataset.line = p.line || "";
      li.textContent = p.part + (p.line ? " line " + p.line : "") + ": " + p.reason;
      problems.appendChild(li);
    });
  }

  function refused(answer) {
    var detail = answer.data && answer.data.detail;
    if (detail && detail.problems) { list(detail.problems); return detail.message; }
    list([]);
    return (typeof detail === "string" ? detail : (answer.data && answer.data.error)) || ("HTTP " + answer.status);
  }

  function show(rendered) {
    var subject = document.getElementById("preview-subject");
    if (subject) {
      subject.textContent = rendered.subject;
      document.getElementById("preview-html").srcdoc = rendered.html;
      document.getElementById("preview-text").textContent = rendered.text;
    } else {
      document.getElementById("preview-json").textContent = JSON.stringify(rendered, null, 2);
    }
  }

  document.getElementById("preview").addEventListener("click", function () {
    call("POST", "/preview", sample({parts: parts()})).then(function (answer) {
      if (answer.ok) { show(answer.data.rendered); list([]); say("Preview updated.", true); }
      else say("Not rendered: " + refused(answer), false);
    });
  });

  document.getElementById("save-draft").addEventListener("click", function () {
    call("PUT", "/draft", {parts: parts()}).then(function (answer) {
      if (!answer.ok) { say("Not saved: " + refused(answer), false); return; }
      list(answer.data.problems);
      say(answer.data.problems.length ? "Draft saved; publishing would refuse it as it is." : "Draft saved.",
          !answer.data.problems.length);
    });
  });

  document.getElementById("publish").addEventListener("click", function () {
    var note = document.getElementById("publish-note").value.trim();
    call("POST", "/publish", {parts: parts(), note: note || null}).then(function (answer) {
      if (!answer.ok) { say("Not published: " + refused(answer), false); return; }
      say("Published version " + answer.data.version + ": the next send uses it.", true);
      window.location.reload();
    });
  });

  var test = document.getElementById("send-test");
  if (test) test.addEventListener("click", function () {
    var to = document.getElementById("test-to").value.trim();
    call("POST", "/test", sample({parts: parts(), to: to})).then(function (answer) {
      if (answer.ok) say("Test sent to " + answer.data.sent_to + ".", true);
      else say("No test sent: " + refused(answer), false);
    });
  });

  document.querySelectorAll("button.rollback").forEach(function (button) {
    button.addEventListener("click", function () {
      var version = parseInt(button.dataset.version, 10);
      call("POST", "/rollback", {version: version}).then(function (answer) {
        if (!answer.ok) { say("Not rolled back: " + refused(answer), false); return; }
        say("Version " + version + " is live again.", true);
        window.location.reload();
      });
    });
  });
  document.body.setAttribute("data-editor", "ready");
})();
