"""Drive a real Open WebUI 0.12.4 from Python, the way an admin and a browser do.

Shared by the end-to-end tests, the demo and the benchmark. Two parts:

- `start_openwebui()` runs `open-webui serve` from this virtualenv, offline, with a
  fresh data directory, and waits until `/health` answers.
- `OpenWebUI` is a small synchronous REST + socket.io client covering what the
  project needs (HOST.md section 7): accounts, functions and their valves, model
  listing and access grants, and chats on both paths:
  * API path (`chat_api`, `chat_api_stream`): `POST /api/chat/completions` without a
    socket session; the HTTP response carries the answer (SSE or JSON).
  * Web path (`chat_web`): exactly what the page sends (Chat.svelte,
    `sendMessageSocket`): a socket.io session, the answer runs as a background task
    and arrives as socket.io `events`; the saved message is then read back from the
    chat, which is what a user sees after a reload.

Everything here is blocking on purpose: tests and scripts call it from plain
functions. socket.io uses python-socketio's threaded `Client` (websocket-client
transport).

Modules: `process` (start, health and stop of the server), `client` (the REST
client `OpenWebUI`), `chat` (API-path and web-path chat results, the page's
socket.io session and chat body), `functions` (what the function editor does with
a pasted file).
"""
