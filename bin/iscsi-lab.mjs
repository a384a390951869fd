#!/usr/bin/env node
// Kept for old scripts; bin/iscsi-lab.cjs is the entry (it can size the libuv pool before it starts, this cannot).
import './iscsi-lab.cjs';
