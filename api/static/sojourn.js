/*
 * sojourn.js: Sojourn's storefront script. No build step: include it and call
 *
 *   Sojourn.init({host: "https://sojourn.shop.example", writeKey: "WRITE_KEY",
 *                 userId: "lisa", token: "<her customer token, signed by the shop's backend>"})
 *
 * without userId/token for a visitor who has not signed in (her anonymous id is
 * analytics.js's when it is on the page, else one of its own, kept in localStorage).
 * It then shows her on-site messages: the greeting bar (top), the smart banner
 * (top, on mobile web), the spin-to-win popup (the wheel draws on the server, after she gives
 * her email and consent), content slots (any element with data-sojourn-placement="name"),
 * a product page's recommendations (data-sojourn-product-page="<product id>"), the
 * home page's stories (data-sojourn-stories),
 * reports each impression, click and dismissal, tells Sojourn when she landed through a
 * friend's referral link (`?ref=<code>`), and `Sojourn.subscribePush()` asks
 * for web push with the shop's service worker (see the README's "sojourn.js").
 *
 * Everything is drawn with textContent and DOM nodes, never innerHTML: a message's
 * text can't inject markup. Only http(s) links are followed.
 */
(function (window, document) {
  "use strict";

  var STORAGE = "sojourn.";
  var TOKEN_HEADER = "X-Sojourn-Token";
  var state = null;

  function stored(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(STORAGE + key);
      window.localStorage.setItem(STORAGE + key, value);
    } catch (e) { /* storage off: this page only */ }
    return value;
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "sj-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function basic(key) { return "Basic " + window.btoa(key + ":"); }

  function call(method, path, body) {
    var headers = {"Authorization": basic(state.writeKey)};
    if (state.token) headers[TOKEN_HEADER] = state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return window.fetch(state.host + path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", keepalive: method !== "GET"
    }).then(function (response) {
      if (!response.ok) throw new Error("Sojourn " + method + " " + path + ": " + response.status);
      return response.status === 204 ? null : response.json();
    });
  }

  function analyticsAnonymousId() {
    try {
      var a = window.analytics;
      return a && typeof a.user === "function" ? a.user().anonymousId() : null;
    } catch (e) { return null; }
  }

  // A visitor proves her anonymous id with the token the first claim of it got.
  function anonymousProof(anonymousId) {
    var kept = stored("token." + anonymousId);
    if (kept) return Promise.resolve(kept);
    return call("POST", "/v1/browser/anonymous-token", {anonymousId: anonymousId}).then(function (answer) {
      return stored("token." + anonymousId, answer.token);
    });
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) { return null; }
  }

  function report(message, kind) {
    var path = "/v1/customers/" + encodeURIComponent(state.customerId) + "/messages/" + message.id + "/" + kind;
    return call("POST", path).catch(function () { /* a lost report is a lost count, never a broken page */ });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function link(message, text, className) {
    var url = safeUrl(message.content.url);
    if (!url) return el("span", className, text);
    var a = el("a", className, text);
    a.href = url;
    a.addEventListener("click", function (event) {
      event.preventDefault();
      var go = function () { window.location.href = url; };
      Promise.race([report(message, "clicked"), new Promise(function (r) { setTimeout(r, 800); })]).then(go, go);
    });
    return a;
  }

  function closer(message, node) {
    var button = el("button", "sojourn-close", "\u00d7");
    button.type = "button";
    button.setAttribute("aria-label", "Close");
    button.addEventListener("click", function () {
      node.remove();
      report(message, "dismissed");
    });
    return button;
  }

  var STYLE = ".sojourn-bar{position:sticky;top:0;z-index:2147483000;display:flex;gap:1em;align-items:center;" +
    "justify-content:center;padding:.6em 2.5em;background:#222;color:#fff;font:15px/1.4 sans-serif}" +
    ".sojourn-bar a{color:#fff;font-weight:bold}.sojourn-banner{position:relative;" +
    "z-index:2147483000;display:flex;gap:1em;align-items:center;padding:.8em 2.5em .8em 1em;background:#fff;" +
    "box-shadow:0 2px 8px rgba(0,0,0,.2);font:15px/1.4 sans-serif}.sojourn-banner strong{display:block}" +
    ".sojourn-button{padding:.4em 1em;border-radius:4px;background:#222;color:#fff;text-decoration:none}" +
    ".sojourn-popup{position:fixed;left:50%;top:50%;transform:translate(-50%,-50%);z-index:2147483001;" +
    "width:min(26em,90vw);box-sizing:border-box;padding:1.5em;background:#fff;border-radius:8px;" +
    "box-shadow:0 4px 24px rgba(0,0,0,.3);font:15px/1.4 sans-serif}.sojourn-popup form{display:grid;gap:.6em}" +
    ".sojourn-popup ul{padding-left:1.2em}.sojourn-popup input[type=email]{padding:.4em}" +
    ".sojourn-stories{display:flex;gap:1em;overflow-x:auto;list-style:none;margin:0;padding:.5em}" +
    ".sojourn-story a{display:flex;flex-direction:column;align-items:center;width:5.5em;text-align:center;" +
    "font:13px/1.3 sans-serif;color:inherit;text-decoration:none}.sojourn-story img{width:4.5em;height:4.5em;" +
    "border-radius:50%;object-fit:cover;border:2px solid #c2185b}" +
    ".sojourn-slot img,.sojourn-product-page img{max-width:100%;display:block}.sojourn-won{font-weight:bold}.sojourn-code{font:1.2em monospace}" +
    ".sojourn-close{position:absolute;right:.5em;top:.3em;border:0;background:none;color:inherit;" +
    "font-size:1.3em;cursor:pointer}.sojourn-bar,.sojourn-banner{box-sizing:border-box}";

  function styleOnce() {
    if (document.getElementById("sojourn-style")) return;
    var style = el("style");
    style.id = "sojourn-style";
    style.textContent = STYLE;
    document.head.appendChild(style);
  }

  var RENDER = {
    greeting_bar: function (message) {
      var bar = el("div", "sojourn-bar");
      if (!message.content.sticky) bar.style.position = "relative";
      bar.appendChild(link(message, message.content.text || "", "sojourn-text"));
      bar.appendChild(closer(message, bar));
      var banner = document.querySelector(".sojourn-banner");  // the app's banner stays above it
      document.body.insertBefore(bar, banner ? banner.nextSibling : document.body.firstChild);
      return bar;
    },
    smart_banner: function (message) {
      var banner = el("div", "sojourn-banner");
      var words = el("div", "sojourn-words");
      words.appendChild(el("strong", null, message.content.title || ""));
      words.appendChild(el("span", null, message.content.text || ""));
      banner.appendChild(words);
      banner.appendChild(link(message, message.content.button || "Open", "sojourn-button"));
      banner.appendChild(closer(message, banner));
      // At the top of the page, above everything, scrolling away with it: where the
      // guide (and Safari's own smart app banner) puts it.
      document.body.insertBefore(banner, document.body.firstChild);
      return banner;
    },
    spin_to_win: function (message) { return spinToWin(message); }
  };

  function spinPath(wheel) {
    return "/v1/customers/" + encodeURIComponent(state.customerId) + "/wheels/" + encodeURIComponent(wheel) + "/spin";
  }

  // The wheel never draws here: the server does, once per customer and email.
  function spin(wheel, email, consent) {
    return state.ready.then(function () { return call("POST", spinPath(wheel), {email: email, consent: !!consent}); });
  }

  function spinToWin(message) {
    var popup = el("div", "sojourn-popup");
    popup.setAttribute("role", "dialog");
    popup.appendChild(el("strong", null, message.content.title || ""));
    popup.appendChild(el("p", null, message.content.text || ""));
    var slices = el("ul", "sojourn-slices");
    popup.appendChild(slices);
    call("GET", "/v1/wheels/" + encodeURIComponent(message.content.wheel)).then(function (wheel) {
      wheel.slices.forEach(function (s) { slices.appendChild(el("li", null, s.label)); });
    }).catch(function () {});
    var form = el("form");
    var email = el("input");
    email.type = "email"; email.name = "email"; email.required = true; email.placeholder = "you@example.com";
    var consentLabel = el("label");
    var consent = el("input");
    consent.type = "checkbox"; consent.name = "consent"; consent.required = true;
    consentLabel.appendChild(consent);
    consentLabel.appendChild(document.createTextNode(" " + (message.content.consent_text || "")));
    var button = el("button", "sojourn-button", message.content.button || "Spin");
    button.type = "submit";
    var result = el("div", "sojourn-result");
    form.appendChild(email); form.appendChild(consentLabel); form.appendChild(button);
    popup.appendChild(form);
    popup.appendChild(result);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      report(message, "clicked");
      call("POST", spinPath(message.content.wheel), {email: email.value, consent: consent.checked}).then(function (won) {
        form.remove();
        result.appendChild(el("p", "sojourn-won", won.won ? "You won: " + won.label : won.label));
        if (won.coupon) result.appendChild(el("code", "sojourn-code", won.coupon.code));
        popup.setAttribute("data-sojourn-outcome", won.slice || "none");
        // Spun: she is not asked again.
        var ack = "/v1/customers/" + encodeURIComponent(state.customerId) + "/messages/" + message.id + "/ack";
        return call("POST", ack).catch(function () {});
      }, function (err) {
        button.disabled = false;
        result.textContent = /409/.test(String(err)) ? "This email has already had its spin." : "Something went wrong; try again.";
      });
    });
    popup.appendChild(closer(message, popup));
    document.body.appendChild(popup);
    return popup;
  }

  function renderSlot(message) {
    var slot = document.querySelector('[data-sojourn-placement="' + message.placement.replace(/["\\]/g, "") + '"]');
    if (!slot) return null;
    slot.textContent = "";
    var box = el("div", "sojourn-slot");
    var image = safeUrl(message.content.image || "");
    if (message.content.image && image) {
      var img = el("img", "sojourn-image");
      img.src = image;
      img.alt = message.content.image_alt || "";
      box.appendChild(img);
    }
    if (message.content.title) box.appendChild(el("strong", null, message.content.title));
    if (message.content.button) {  // a call to action: the text stays text, the button links
      if (message.content.text) box.appendChild(el("p", "sojourn-text", message.content.text));
      box.appendChild(link(message, message.content.button, "sojourn-button"));
    } else {
      box.appendChild(link(message, message.content.text || "", "sojourn-text"));
    }
    if (message.content.referral_code) box.appendChild(el("code", "sojourn-code", message.content.referral_code));
    if (Array.isArray(message.content.products)) {  // recommendations: each a link to the product
      var list = el("ul", "sojourn-products");
      message.content.products.slice(0, 12).forEach(function (product) {
        if (!product || typeof product !== "object") return;
        var item = el("li", "sojourn-product");
        var picture = product.image_url && safeUrl(product.image_url);
        if (picture) { var img = el("img"); img.src = picture; img.alt = ""; item.appendChild(img); }
        item.appendChild(link({id: message.id, content: {url: product.url}}, String(product.name || product.product_id || ""),
                              "sojourn-product-name"));
        list.appendChild(item);
      });
      box.appendChild(list);
    }
    slot.appendChild(box);
    return box;
  }

  function render(message) {
    var node = (RENDER[message.placement] || renderSlot)(message);
    if (!node) return null;
    node.setAttribute("data-sojourn-message", String(message.id));
    node.setAttribute("data-sojourn-placement-shown", message.placement);
    return node;
  }

  // One message per placement: the newest (the API lists newest first). Resolves
  // with what was shown once each impression is reported.
  function show() {
    var path = "/v1/customers/" + encodeURIComponent(state.customerId) + "/messages";
    return call("GET", path).then(function (messages) {
      styleOnce();
      var seen = {};
      var shown = [];
      messages.forEach(function (message) {
        if (seen[message.placement] || document.querySelector('[data-sojourn-message="' + message.id + '"]')) return;
        seen[message.placement] = true;
        if (render(message)) shown.push(message);
      });
      return Promise.all(shown.map(function (m) { return report(m, "viewed"); })).then(function () { return shown; });
    });
  }

  // Below a product's information (an element with data-sojourn-product-page="<product
  // id>"): bought together, you may also like, similar products, similar categories,
  // previously viewed. Its impression and each click are the product discovery
  // journey's (the answer names the journey, step and placement), told as events.
  function tell(event, properties) {
    var body = {event: event, properties: properties, messageId: newId()};
    body[state.signedIn ? "userId" : "anonymousId"] = state.customerId;
    return call("POST", "/v1/track", body).catch(function () { /* a lost count, never a broken page */ });
  }

  function productPage(slot) {
    var productId = slot.getAttribute("data-sojourn-product-page");
    if (!productId || slot.getAttribute("data-sojourn-filled")) return Promise.resolve(null);
    slot.setAttribute("data-sojourn-filled", "1");
    var path = "/v1/customers/" + encodeURIComponent(state.customerId) + "/product-page/" + encodeURIComponent(productId);
    return call("GET", path).then(function (page) {
      if (!page.sections.length) return null;
      styleOnce();
      var run = {journey: page.journey, step: page.step, placement: page.placement, product_id: productId};
      var box = el("div", "sojourn-product-page");
      var position = 0;
      function item(list, section, product) {
        if (!product || typeof product !== "object") return;
        var url = safeUrl(product.url || "");
        var li = el("li", "sojourn-product");
        var picture = product.image_url && safeUrl(product.image_url);
        if (picture) { var img = el("img"); img.src = picture; img.alt = ""; li.appendChild(img); }
        var name = String(product.name || product.product_id || "");
        var a = url ? el("a", "sojourn-product-name", name) : el("span", "sojourn-product-name", name);
        var at = ++position;
        if (url) {
          a.href = url;
          a.setAttribute("data-sojourn-product", String(product.product_id));
          a.addEventListener("click", function (event) {
            event.preventDefault();
            var go = function () { window.location.href = url; };
            var clicked = {section: section, clicked_product_id: String(product.product_id), position: at};
            for (var k in run) clicked[k] = run[k];
            Promise.race([tell("Onsite Message Clicked", clicked),
                          new Promise(function (r) { setTimeout(r, 800); })]).then(go, go);
          });
        }
        li.appendChild(a);
        list.appendChild(li);
      }
      page.sections.forEach(function (section) {
        var part = el("section", "sojourn-section");
        part.setAttribute("data-sojourn-section", section.kind);
        part.appendChild(el("h3", null, section.title));
        (section.categories || [{products: section.products}]).forEach(function (group) {
          if (group.category) part.appendChild(el("h4", null, String(group.category)));
          var list = el("ul", "sojourn-products");
          (group.products || []).slice(0, 12).forEach(function (product) { item(list, section.kind, product); });
          part.appendChild(list);
        });
        box.appendChild(part);
      });
      slot.textContent = "";
      slot.appendChild(box);
      var viewed = {sections: page.sections.map(function (s) { return s.kind; })};
      for (var k in run) viewed[k] = run[k];
      return tell("Onsite Message Viewed", viewed).then(function () { return page; });
    }, function () { return null; });
  }

  // The home page's stories (an element with data-sojourn-stories): the marketer's,
  // those about what she views most first. Impression and taps are the home_stories
  // journey's.
  function stories(slot) {
    if (slot.getAttribute("data-sojourn-filled")) return Promise.resolve(null);
    slot.setAttribute("data-sojourn-filled", "1");
    return call("GET", "/v1/customers/" + encodeURIComponent(state.customerId) + "/stories").then(function (found) {
      if (!found.stories.length) return null;
      styleOnce();
      var run = {journey: found.journey, step: found.step, placement: found.placement};
      var list = el("ul", "sojourn-stories");
      found.stories.forEach(function (story, index) {
        var url = safeUrl(story.url || "");
        if (!url) return;
        var li = el("li", "sojourn-story");
        var a = el("a", null);
        a.href = url;
        a.setAttribute("data-sojourn-story", String(story.story_id));
        var picture = story.image_url && safeUrl(story.image_url);
        if (picture) { var img = el("img"); img.src = picture; img.alt = ""; a.appendChild(img); }
        a.appendChild(el("span", null, String(story.title || "")));
        a.addEventListener("click", function (event) {
          event.preventDefault();
          var go = function () { window.location.href = url; };
          var tapped = {story_id: String(story.story_id), position: index + 1};
          for (var k in run) tapped[k] = run[k];
          Promise.race([tell("Onsite Message Clicked", tapped),
                        new Promise(function (r) { setTimeout(r, 800); })]).then(go, go);
        });
        li.appendChild(a);
        list.appendChild(li);
      });
      slot.textContent = "";
      slot.appendChild(list);
      var viewed = {stories: found.stories.map(function (s) { return String(s.story_id); })};
      for (var k in run) viewed[k] = run[k];
      return tell("Onsite Message Viewed", viewed).then(function () { return found; });
    }, function () { return null; });
  }

  function productPages() {
    return Promise.all(Array.prototype.map.call(document.querySelectorAll("[data-sojourn-stories]"), stories)
      .concat(Array.prototype.map.call(document.querySelectorAll("[data-sojourn-product-page]"), productPage)));
  }


  // This page view may be what starts the journey that fills a slot (a first visit to
  // the registration page) or shows a banner (the order success page): a slot still
  // empty, or a placement in `watch` not shown yet, is looked for again, a few times.
  var LATE = [600, 900, 1500];  // ms between looks: 0.6 s, 1.5 s and 3 s after the first

  function fillSlotsLate() {
    var step = 0;
    function again() {
      var empty = Array.prototype.some.call(document.querySelectorAll("[data-sojourn-placement]"), function (slot) {
        return !slot.querySelector("[data-sojourn-message]");
      }) || state.watch.some(function (placement) {
        return !document.querySelector('[data-sojourn-placement-shown="' + placement.replace(/["\\]/g, "") + '"]');
      });
      if (!empty || step >= LATE.length) return;
      setTimeout(function () { show().then(again, again); }, LATE[step++]);
    }
    again();
  }

  function referralCode() {
    try {
      var code = new URL(window.location.href).searchParams.get("ref");
      return code && code.length <= 512 ? code : null;
    } catch (e) { return null; }
  }

  function init(options) {
    if (!options || !options.host || !options.writeKey) throw new Error("Sojourn.init needs host and writeKey");
    state = {host: options.host.replace(/\/+$/, ""), writeKey: options.writeKey, token: options.token || null,
             watch: Array.isArray(options.watch) ? options.watch.map(String) : []};
    var ready;
    if (options.userId && options.token) {
      state.customerId = options.userId;
      state.signedIn = true;
      ready = Promise.resolve();
    } else {
      var anonymousId = options.anonymousId || analyticsAnonymousId() || stored("anonymousId") || stored("anonymousId", newId());
      state.customerId = anonymousId;
      ready = anonymousProof(anonymousId).then(function (token) { state.token = token; });
    }
    // Landed through a friend's referral link (?ref=<code>): tell Sojourn who landed,
    // once per code in this browser. Her own link counts for nothing (the API knows);
    // a friend's starts her welcome, shown as soon as it is there.
    var code = referralCode();
    if (code && !stored("ref." + code)) {
      ready = ready.then(function () {
        var path = "/v1/customers/" + encodeURIComponent(state.customerId) + "/referral";
        return call("POST", path, {code: code}).then(function (answer) {
          stored("ref." + code, "1");
          if (answer && answer.referred && state.watch.indexOf("greeting_bar") < 0) state.watch.push("greeting_bar");
        }, function () { /* a lost landing is a lost count, never a broken page */ });
      });
    }
    state.ready = ready.then(function () { return options.show === false ? [] : show(); });
    state.ready.then(productPages, function () {});
    if (options.show !== false) state.ready.then(fillSlotsLate, function () {});
    return state.ready;
  }

  function urlBase64ToUint8Array(base64) {
    var padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // The service worker must live on the shop's origin; a one-line file is enough:
  //   importScripts("https://sojourn.shop.example/v1/sojourn-sw.js");
  function subscribePush(options) {
    var worker = (options && options.serviceWorker) || "/sojourn-sw.js";
    return state.ready.then(function () {
      return Promise.all([call("GET", "/v1/push/vapid-public-key"), navigator.serviceWorker.register(worker)]);
    }).then(function (both) {
      return both[1].pushManager.subscribe({userVisibleOnly: true,
                                            applicationServerKey: urlBase64ToUint8Array(both[0].publicKey)});
    }).then(function (subscription) {
      return call("POST", "/v1/customers/" + encodeURIComponent(state.customerId) + "/push-subscriptions",
                  subscription.toJSON());
    });
  }

  // This browser's anonymous token, if sojourn.js claimed one: the proof a sign-in
  // needs to bring the visitor's messages and push subscription into her account
  // (send it as X-Sojourn-Anonymous-Token with analytics.js's identify).
  function anonymousToken() {
    var anonymousId = analyticsAnonymousId() || stored("anonymousId");
    return anonymousId ? stored("token." + anonymousId) : null;
  }

  window.Sojourn = {init: init, show: function () { return state.ready.then(show); }, subscribePush: subscribePush,
                    productPage: function () { return state.ready.then(productPages); },
                    stories: function () { return state.ready.then(productPages); },
                    spin: spin,
                    anonymousToken: anonymousToken, customerId: function () { return state && state.customerId; }};
})(window, document);
