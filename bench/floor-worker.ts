/**
 * The worker of Temporal's floor and of the per-email design (bench/floor-workflow.ts), in
 * a process of its own like the service's worker. Reads BENCH_TEMPORAL_ADDRESS,
 * BENCH_TASK_QUEUE and BENCH_RESEND_URL; prints "floor worker polling" once it polls and
 * stops on SIGTERM.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createFloorActivities } from './floor-activities.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const connection = await NativeConnection.connect({ address: env('BENCH_TEMPORAL_ADDRESS') });
const worker = await Worker.create({
  connection,
  taskQueue: env('BENCH_TASK_QUEUE'),
  workflowsPath: fileURLToPath(new URL('./floor-workflow.ts', import.meta.url)),
  activities: createFloorActivities(env('BENCH_RESEND_URL')),
  // The service's send worker allows 100 activities per process; in-flight counts are set by the workflows.
  maxConcurrentActivityTaskExecutions: 100,
});
process.once('SIGTERM', () => worker.shutdown());
process.once('SIGINT', () => worker.shutdown());
const running = worker.run();
console.log('floor worker polling');
await running;
await connection.close();
