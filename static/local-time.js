// Shows every <time datetime="..."> in the viewer's own time zone. The server writes a readable
// UTC time inside each element, so the page is right without this script; with it, the UTC text
// moves to the tooltip and the element reads in local time (with the zone's short name).
(function () {
  "use strict";
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
  } catch (e) {
    return;
  }
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var el = times[i];
    var value = el.getAttribute("datetime");
    // A date alone (a UTC day's total) has no time of day to move into another zone.
    if (value.indexOf("T") < 0) {
      continue;
    }
    var at = new Date(value);
    if (isNaN(at.getTime())) {
      continue;
    }
    if (!el.title) {
      el.title = el.textContent;
    }
    el.textContent = format.format(at);
    el.setAttribute("data-localised", "");
  }
})();
