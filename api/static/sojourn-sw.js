/*
 * Sojourn's push service worker. A service worker must be served from the shop's own
 * origin, so the shop hosts a one-line /sojourn-sw.js:
 *
 *   importScripts("https://sojourn.shop.example/v1/sojourn-sw.js");
 *
 * A push's payload is the JSON a push template renders (templates/push/): a title,
 * and optionally body, icon and url. Clicking the notification opens the url (a
 * tracked link when the template's url was the brand's).
 */
"use strict";

self.addEventListener("push", function (event) {
  var payload = {};
  try { payload = event.data ? event.data.json() : {}; } catch (e) { payload = {title: event.data.text()}; }
  var title = typeof payload.title === "string" && payload.title ? payload.title : "News from the shop";
  event.waitUntil(self.registration.showNotification(title, {
    body: typeof payload.body === "string" ? payload.body : "",
    icon: typeof payload.icon === "string" ? payload.icon : undefined,
    data: {url: typeof payload.url === "string" ? payload.url : "/"}
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/";
  if (!/^https?:\/\//.test(new URL(url, self.location.href).href)) return;
  event.waitUntil(self.clients.openWindow(url));
});
