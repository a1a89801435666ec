import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ControllerContext } from './app/context';
import { Controller } from './app/controller';
import './styles.css';

const controller = new Controller();
void controller.start();

// Test hook (end-to-end tests only): with `?e2e=1` in the URL, or in Vite's "test" mode,
// `window.__taptrade.dropSocket(ms)` closes the WebSocket as a network failure would and keeps it down
// for `ms`, to exercise the UNKNOWN -> reconciled path. It only affects this tab's own connection.
if (import.meta.env.MODE === 'test' || new URLSearchParams(window.location.search).has('e2e')) {
  (window as unknown as { __taptrade: object }).__taptrade = {
    dropSocket: (ms = 3000) => controller.socket.drop(ms),
  };
}

const root = document.getElementById('root');
if (root === null) throw new Error('no #root element');
createRoot(root).render(
  <StrictMode>
    <ControllerContext.Provider value={controller}>
      <App />
    </ControllerContext.Provider>
  </StrictMode>,
);
