import type { TaskProfile } from './task.js';
import { inspectTask } from './inspect.js';

const tasks = new Map<string, TaskProfile>([[inspectTask.name, inspectTask]]);

export function getTask(name: string): TaskProfile | undefined {
  return tasks.get(name);
}

export function taskNames(): string[] {
  return [...tasks.keys()];
}
