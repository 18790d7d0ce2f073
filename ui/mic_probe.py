"""What the browser can offer the live monitor, asked in the browser itself: a secure page, a microphone, and the
site's microphone permission. The WebRTC player shows only raw browser errors ("NotFoundError: Requested device
not found"); the page turns this probe's answer into plain words with what to do."""
from __future__ import annotations

import streamlit as st

_JS = """
export default function (component) {
  const { setStateValue } = component;
  let last = "";
  async function probe() {
    const out = { secure: window.isSecureContext,
                  api: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
                  inputs: null, permission: "unknown" };
    try {
      if (navigator.mediaDevices && navigator.mediaDevices.enumerateDevices) {
        const devices = await navigator.mediaDevices.enumerateDevices();
        out.inputs = devices.filter((d) => d.kind === "audioinput").length;
      }
    } catch (e) {}
    try {
      const p = await navigator.permissions.query({ name: "microphone" });
      out.permission = p.state;
    } catch (e) {}
    const now = JSON.stringify(out);
    if (now !== last) { last = now; setStateValue("probe", out); }  // a rerun only when something changed
  }
  probe();
  const timer = setInterval(probe, 2000);  // a microphone plugged in or a permission changed later
  return () => clearInterval(timer);
}
"""

_component = st.components.v2.component("mic_probe", html="<span></span>", js=_JS)


def microphone_problem() -> str:
    """A plain message when the browser cannot give this page a microphone, "" when it can (or before it said)."""
    probe = getattr(_component(key="mic_probe", default={"probe": None}, on_probe_change=lambda: None),
                    "probe", None)
    if not isinstance(probe, dict):
        return ""
    if not probe.get("secure") or not probe.get("api"):
        return ("This browser does not offer a microphone to this page: it needs a secure connection (https, or "
                "localhost). Ask whoever runs the app to serve it over https, or upload a recording on the Analyze "
                "page.")
    if probe.get("inputs") == 0:
        return ("No microphone found on this device. Connect one (or switch it on in the system's sound settings), "
                "then press START; or record on another device and upload the file on the Analyze page.")
    if probe.get("permission") == "denied":
        return ("The browser blocks the microphone for this site. Allow it from the padlock icon in the address bar, "
                "reload the page and press START again.")
    return ""
