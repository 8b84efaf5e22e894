// A plain Node http server with Node's defaults (keep-alive connections
// closed after 5 s idle), the upstream behaviour that made pooled gateway
// connections go stale. With "close" it ends every connection after its
// response. It prints "listening <port>" when ready.
const http = require("node:http");
const mode = process.argv[2] || "keepalive";
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    if (mode === "close") res.setHeader("Connection", "close");
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ method: req.method, path: req.url, body, user: req.headers["x-gateway-user"] || "" }));
  });
});
server.listen(0, "127.0.0.1", () => console.log("listening " + server.address().port));
