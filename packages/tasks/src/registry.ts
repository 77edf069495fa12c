import type { Task } from './task.js';
import { inspectTask } from './inspect.js';
import { taggingTask } from './tagging.js';
import { invoiceTask } from './invoice.js';
import { captionTask } from './caption.js';
import { customTask } from './custom.js';

const tasks = new Map<string, Task>(
  [inspectTask as Task, taggingTask, invoiceTask, captionTask, customTask].map((task) => [task.name, task]),
);

export function getTask(name: string): Task | undefined {
  return tasks.get(name);
}

export function taskNames(): string[] {
  return [...tasks.keys()];
}
