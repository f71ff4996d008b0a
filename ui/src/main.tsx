import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./styles/theme.css";
import "./styles/base.css";
import "./styles/welcome.css";
import "./styles/main.css";
import "./styles/chat.css";
import "./styles/details.css";
import "./styles/dialogs.css";
// After dialogs.css: the preview sheet and the viewer size their modals.
import "./styles/files.css";
import "./styles/actions.css";

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
