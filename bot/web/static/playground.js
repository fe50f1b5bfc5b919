// The playground page: send a line or a button press, then render each reply (or edit) streamed back as
// Server-Sent Events. The server sends bodies as already-escaped HTML; everything else goes in as text.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var template = document.getElementById("message-template");

  function scrollDown() { list.scrollTop = list.scrollHeight; }

  function note(text, kind) {
    var item = document.createElement("li");
    item.className = "msg " + kind;
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = text;
    item.appendChild(bubble);
    list.appendChild(item);
    scrollDown();
    return item;
  }

  function fill(item, message) {
    item.dataset.messageId = message.message_id;
    item.dataset.kind = message.kind;
    item.classList.toggle("ephemeral", !!message.ephemeral);
    item.classList.toggle("error", message.kind === "error");
    var q = function (sel) { return item.querySelector(sel); };
    q(".title").innerHTML = message.title_html; // escaped and marked up on the server, like the body
    q(".title").hidden = !message.title;
    q(".body").innerHTML = message.html; // escaped and marked up on the server (bot/adapters/html.py)
    var wrap = q(".progress-wrap");
    wrap.hidden = message.progress === null || message.progress === undefined;
    if (!wrap.hidden) {
      q("progress").value = Math.round(message.progress * 100);
      q(".progress-label").textContent = Math.round(message.progress * 100) + "%";
    }
    var fields = q(".fields");
    fields.textContent = "";
    message.fields.forEach(function (f) {
      var dt = document.createElement("dt"); dt.textContent = f.name;
      var dd = document.createElement("dd"); dd.textContent = f.value;
      fields.appendChild(dt); fields.appendChild(dd);
    });
    var images = q(".images");
    images.textContent = "";
    message.images.forEach(function (src, n) {
      var img = document.createElement("img");
      img.src = src; // data:image/png;base64 from the server
      img.alt = (message.title || "demo") + " image " + (n + 1);
      images.appendChild(img);
    });
    var files = q(".files");
    files.textContent = "";
    (message.files || []).forEach(function (f) {
      if (!/^data:text\/plain;/.test(f.href)) return;
      var a = document.createElement("a");
      a.href = f.href; // the whole text, sent in this visitor's own stream
      a.download = f.name;
      a.textContent = "Download the full output (" + f.name + ", " + Math.max(1, Math.round(f.size / 1024)) + " KB)";
      files.appendChild(a);
    });
    q(".citation").textContent = message.citation ? "Source: " + message.citation : "";
    q(".citation").hidden = !message.citation;
    var docs = q(".docs");
    docs.textContent = "";
    (message.docs || []).forEach(function (d, n) {
      if (!/^https:\/\//.test(d.url)) return;
      docs.appendChild(document.createTextNode(n ? ", " : "Docs: "));
      var a = document.createElement("a");
      a.href = d.url; a.textContent = d.label; a.target = "_blank"; a.rel = "noopener noreferrer";
      docs.appendChild(a);
    });
    var buttons = q(".buttons");
    buttons.textContent = "";
    message.buttons.forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "action " + (b.style || "secondary");
      button.textContent = b.label;
      button.dataset.token = b.token;
      buttons.appendChild(button);
    });
  }

  function show(message) {
    var item = message.edit ? list.querySelector('[data-message-id="' + CSS.escape(message.message_id) + '"]') : null;
    if (!item) {
      item = template.content.firstElementChild.cloneNode(true);
      list.appendChild(item);
    }
    fill(item, message);
    if (message.edit) item.classList.add("edited");
    scrollDown();
  }

  function parse(frame) {
    var event = "message", data = "";
    frame.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) event = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
    });
    return { event: event, data: data };
  }

  async function send(body) {
    var pending = note("…", "bot typing");
    try {
      var response = await fetch("/playground/send", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "text/event-stream" },
        body: JSON.stringify(body)
      });
      if (!response.ok) {
        var detail = "HTTP " + response.status;
        try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
        pending.remove();
        note(detail, "system error");
        return;
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        var frames = buffer.split("\n\n");
        buffer = frames.pop();
        frames.forEach(function (frame) {
          var parsed = parse(frame);
          if (parsed.event === "reply") {
            if (pending) { pending.remove(); pending = null; }
            show(JSON.parse(parsed.data));
          }
        });
      }
    } catch (error) {
      note("The connection broke: " + error.message, "system error");
    } finally {
      if (pending) pending.remove();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    note(text, "me");
    input.value = "";
    send({ text: text });
  });

  list.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.token) {
      note("» " + button.textContent, "me pressed");
      send({ button: button.dataset.token });
    } else if (button.dataset.send) {
      note(button.dataset.send, "me");
      send({ text: button.dataset.send });
    }
  });

  document.querySelectorAll("button.command").forEach(function (button) {
    button.addEventListener("click", function () {
      input.value = button.dataset.insert;
      input.focus();
    });
  });
})();
