import { mount } from 'svelte';
import '@xterm/xterm/css/xterm.css';
import './app.css';
import App from './App.svelte';
import { ui } from './stores/ui.svelte.ts';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');
// Projector mode before the first paint (no flash of the light theme on reload).
document.documentElement.classList.toggle('projector', ui.projector);
export default mount(App, { target });
