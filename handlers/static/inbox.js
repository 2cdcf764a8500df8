// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Canned replies: pick one to put its text in the reply box, then edit.
  document.querySelectorAll("select.canned").forEach(function (sel) {
    sel.addEventListener("change", function () {
      var box = document.getElementById(sel.dataset.target);
      if (box && sel.value) { box.value = sel.value; box.focus(); }
      // A canned reply says what it is (answer, progress, request for more):
      // its type is preselected; staff can still change it before sending.
      var type = sel.selectedOptions[0] && sel.selectedOptions[0].dataset.type;
      var radio = type && sel.form.querySelector('input[name="type"][value="' + type + '"]');
      if (radio) { radio.checked = true; }
    });
  });
  // Charts: download as PNG by drawing the inline SVG on a canvas (2x scale).
  document.querySelectorAll("a.png").forEach(function (link) {
    link.addEventListener("click", function (ev) {
      ev.preventDefault();
      var svg = link.closest("figure").querySelector("svg");
      var w = svg.width.baseVal.value, h = svg.height.baseVal.value, scale = 2;
      var data = new XMLSerializer().serializeToString(svg);
      var img = new Image();
      img.onload = function () {
        var canvas = document.createElement("canvas");
        canvas.width = w * scale; canvas.height = h * scale;
        var ctx = canvas.getContext("2d");
        ctx.scale(scale, scale); ctx.drawImage(img, 0, 0);
        var a = document.createElement("a");
        a.download = link.dataset.name + ".png";
        a.href = canvas.toDataURL("image/png");
        document.body.appendChild(a); a.click(); a.remove();
      };
      img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(data);
    });
  });
})();
