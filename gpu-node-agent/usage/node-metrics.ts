// The node's own metrics in the Prometheus text format, served on the node's /metrics beside the
// gateway's and the egress proxy's: the seed's worker metrics (seed 004 §7.1), each GPU's memory and
// utilization, and each vLLM replica's state. Built from the usage at scrape time, so a series that
// no longer exists (a GPU gone from nvidia-smi) is not served stale.
import type { NodeUsage } from '../../shared/domain/node.js';
import { Counter, Gauge, type MetricsSource } from '../gateway/metrics.js';

const MIB = 1024 * 1024;

export class NodeMetrics implements MetricsSource {
  constructor(private readonly usage: () => NodeUsage) {}

  lines(): string[] {
    const usage = this.usage();
    const containers = new Gauge(
      'synth_worker_active_containers',
      'Sandboxes (containers, VMs, local runs) alive on this node',
    );
    const cpu = new Gauge(
      'synth_worker_cpu_usage_percent',
      "The machine's CPU busy share over all cores since the previous heartbeat, 0..100",
    );
    const memory = new Gauge(
      'synth_worker_memory_usage_bytes',
      "The machine's memory in use (total less available)",
    );
    const memoryTotal = new Gauge('synth_worker_memory_total_bytes', "The machine's memory");
    containers.set({}, usage.active_containers);
    cpu.set({}, usage.cpu_usage_percent);
    memory.set({}, usage.memory_usage_bytes);
    memoryTotal.set({}, usage.memory_total_bytes);

    const gpuTotal = new Gauge('synth_gpu_memory_total_bytes', 'GPU memory, per GPU (nvidia-smi)');
    const gpuUsed = new Gauge('synth_gpu_memory_used_bytes', 'GPU memory in use, per GPU (nvidia-smi)');
    const gpuBusy = new Gauge(
      'synth_gpu_utilization_percent',
      'GPU utilization over the last sample period, per GPU (nvidia-smi), 0..100',
    );
    for (const gpu of usage.gpus) {
      const labels = { gpu: String(gpu.index), uuid: gpu.uuid, name: gpu.name };
      gpuTotal.set(labels, gpu.memory_total_mb * MIB);
      // Not reported by the device ([N/A]): no sample rather than a made-up zero.
      if (gpu.memory_used_mb !== null) gpuUsed.set(labels, gpu.memory_used_mb * MIB);
      if (gpu.utilization_percent !== null) gpuBusy.set(labels, gpu.utilization_percent);
    }

    const up = new Gauge('synth_model_replica_up', 'A vLLM replica is ready (1) or not (0)');
    const state = new Gauge(
      'synth_model_replica_state',
      "A vLLM replica's state: 1 on the series of the state it is in",
    );
    const restarts = new Counter(
      'synth_model_replica_restarts_total',
      'Restarts of a vLLM replica (crashes, hangs, startup timeouts)',
    );
    const running = new Gauge('synth_model_replica_requests_running', 'vllm:num_requests_running, scraped');
    const waiting = new Gauge('synth_model_replica_requests_waiting', 'vllm:num_requests_waiting, scraped');
    const kvCache = new Gauge('synth_model_replica_kv_cache_usage_ratio', 'vllm:kv_cache_usage_perc, 0..1');
    for (const replica of usage.replicas) {
      const labels = { replica: replica.id, model: replica.served, pair: replica.pair };
      up.set(labels, replica.state === 'ready' ? 1 : 0);
      for (const name of ['starting', 'ready', 'restarting', 'stopped'] as const)
        state.set({ ...labels, state: name }, replica.state === name ? 1 : 0);
      restarts.set(labels, replica.restarts);
      if (replica.requests_running !== null) running.set(labels, replica.requests_running);
      if (replica.requests_waiting !== null) waiting.set(labels, replica.requests_waiting);
      if (replica.kv_cache_usage !== null) kvCache.set(labels, replica.kv_cache_usage);
    }
    return [
      containers,
      cpu,
      memory,
      memoryTotal,
      gpuTotal,
      gpuUsed,
      gpuBusy,
      up,
      state,
      restarts,
      running,
      waiting,
      kvCache,
    ].flatMap((metric) => [...metric.header(), ...metric.lines()]);
  }
}
