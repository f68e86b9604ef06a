// The seed's way of showing the fleet, kept as a baseline: one L.circleMarker per unit
// (Leaflet's default SVG renderer), moved with setLatLng, fed an array of position
// objects as JSON. Reports after the updates were rendered: a setTimeout(0) queued from
// the next requestAnimationFrame runs once that frame's style/layout/paint is done.
(function () {
  'use strict';
  var map = L.map('map', { zoomControl: true }).setView([33.77, -84.42], 12);
  var markers = {};
  new QWebChannel(qt.webChannelTransport, function (channel) {
    var bridge = channel.objects.naive;
    bridge.batch.connect(function (seq, text) {
      var t0 = performance.now();
      var units = JSON.parse(text);
      var t1 = performance.now();
      for (var k = 0; k < units.length; k++) {
        var u = units[k];
        var m = markers[u.car_id];
        if (m === undefined) {
          markers[u.car_id] = L.circleMarker([u.lat, u.lng], {
            radius: 4, weight: 1, color: '#ffffff', fillColor: '#1565c0', fillOpacity: 1
          }).addTo(map);
        } else {
          m.setLatLng([u.lat, u.lng]);
        }
      }
      var t2 = performance.now();
      window.requestAnimationFrame(function () {
        var t3 = performance.now();
        setTimeout(function () {
          var t4 = performance.now();
          bridge.applied(JSON.stringify({
            seq: seq, n: units.length, parseMs: t1 - t0, applyMs: t2 - t1, rafWaitMs: t3 - t2,
            renderMs: t4 - t3, drawnAt: Date.now() / 1000
          }));
        }, 0);
      });
    });
    bridge.pageReady();
  });
}());
