#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so `npx iscsi-lab` works right after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../server/cli.ts');
