import { afterAll } from 'vitest';
import { removeTestTempDirs } from './tempDirs.ts';

// A setup file runs in each test file's context, so this hook ends every file.
afterAll(removeTestTempDirs);
