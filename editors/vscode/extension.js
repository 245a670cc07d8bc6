// The ncdl extension: starts `ncdl lsp` (stdio) for .ncd files, and shows the
// diagram of the model under the cursor (the server's `ncdl/diagram` request).
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("ncdl").get("command", ["ncdl", "lsp"]);
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = { documentSelector: [{ scheme: "file", language: "ncdl" }, { scheme: "untitled", language: "ncdl" }] };
  client = new LanguageClient("ncdl", "ncdl language server", serverOptions, clientOptions);
  client.start();

  context.subscriptions.push(
    vscode.commands.registerCommand("ncdl.showDiagram", async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor) return;
      const result = await client.sendRequest("ncdl/diagram", {
        textDocument: { uri: editor.document.uri.toString() },
        position: editor.selection.active,
        depth: null,
      });
      if (!result.svg) {
        vscode.window.showWarningMessage(result.error || "no diagram");
        return;
      }
      const panel = vscode.window.createWebviewPanel("ncdlDiagram", `ncdl: ${result.circuit || result.model}`, vscode.ViewColumn.Beside, {});
      panel.webview.html = `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"></head><body style="background:#fff">${result.svg}</body></html>`;
    })
  );
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
