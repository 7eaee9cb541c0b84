// The project's assignment of agent x model arms to tasks that name none (`random` or `bandit`), and
// what the bandit has learned: it counts every ended attempt's trajectory when it is indexed
// (idempotently, in DynamoDB, so it survives restarts), shows its posterior per category and arm, and
// forgets it on reset.
import {
  type ArmCounts,
  armKey,
  expectations,
  NO_COUNTS,
  successPosterior,
  thompsonChoice,
} from '../assignment/thompson.js';
import { BANDIT_PRIOR, type BanditArmState, type BanditState } from '../domain/bandit.js';
import type { Arm, Project } from '../domain/project.js';
import type { AssignedBy } from '../domain/task.js';
import type { TrajectorySummary } from '../domain/trajectory-index.js';
import type { BanditCounts, BanditRepository } from '../store/bandit-repository.js';
import type { ProjectService } from './project-service.js';

interface Deps {
  bandit: BanditRepository;
  projects: ProjectService;
  /** Uniform on [0, 1); seeded in tests so choices repeat. */
  random: () => number;
}

export interface Assigned {
  arm: Arm;
  by: Exclude<AssignedBy, 'task'>;
}

export class BanditService {
  constructor(private readonly deps: Deps) {}

  /** The arm for a task of `category` in `project`; null when the project lists no arms. */
  async assign(project: Project, category: string): Promise<Assigned | null> {
    const { arms } = project;
    if (arms.length === 0) return null;
    if (project.assignment === 'random') {
      return { arm: arms[Math.floor(this.deps.random() * arms.length)]!, by: 'random' };
    }
    const counts = sumByArm(await this.deps.bandit.list(project.id, category));
    const arm = thompsonChoice(arms, (a) => counts.get(armKey(a)) ?? NO_COUNTS, this.deps.random);
    return { arm, by: 'bandit' };
  }

  /** Counts an ended attempt; a trajectory counted before changes nothing. */
  observe(
    summary: Pick<
      TrajectorySummary,
      'id' | 'project_id' | 'category' | 'scaffold' | 'model' | 'resolved' | 'cost_usd' | 'created_at'
    >,
  ): Promise<boolean> {
    return this.deps.bandit.observe(summary.project_id, {
      trajectory_id: summary.id,
      category: summary.category,
      scaffold: summary.scaffold,
      model: summary.model,
      success: summary.resolved,
      cost_usd: summary.cost_usd,
      at: summary.created_at,
    });
  }

  async state(projectId: string): Promise<BanditState> {
    const project = await this.deps.projects.get(projectId);
    const items = await this.deps.bandit.list(project.id);
    const configured = new Set(project.arms.map(armKey));
    const byCategory = new Map<string, Map<string, ArmCounts & Arm & { last: string | null }>>();
    const cell = (category: string, arm: Arm) => {
      let arms = byCategory.get(category);
      if (!arms) {
        arms = new Map();
        byCategory.set(category, arms);
      }
      let counts = arms.get(armKey(arm));
      if (!counts) {
        counts = { scaffold: arm.scaffold, model: arm.model, ...NO_COUNTS, last: null };
        arms.set(armKey(arm), counts);
      }
      return counts;
    };
    for (const item of items) {
      const counts = cell(item.category, item);
      counts.attempts += item.attempts;
      counts.successes += item.successes;
      counts.cost_usd += item.cost_usd;
      if (!counts.last || item.last_observed_at > counts.last) counts.last = item.last_observed_at;
    }
    // A configured arm shows in every category seen, at its prior until it runs there.
    for (const category of byCategory.keys()) for (const arm of project.arms) cell(category, arm);
    const states: BanditArmState[] = [];
    for (const [category, arms] of [...byCategory].sort(([a], [b]) => a.localeCompare(b))) {
      const rows = [...arms.values()].map((counts) => {
        const expected = expectations(counts);
        return {
          category,
          scaffold: counts.scaffold,
          model: counts.model,
          configured: configured.has(armKey(counts)),
          attempts: counts.attempts,
          successes: counts.successes,
          cost_usd: counts.cost_usd,
          success_posterior: successPosterior(counts),
          expected_success_rate: expected.success,
          expected_cost_usd: expected.cost,
          expected_success_per_usd: expected.perUsd,
          last_observed_at: counts.last,
        };
      });
      states.push(...rows.sort((a, b) => b.expected_success_per_usd - a.expected_success_per_usd));
    }
    return {
      project_id: project.id,
      assignment: project.assignment,
      arms: project.arms,
      prior: { ...BANDIT_PRIOR },
      observations: items.reduce((sum, item) => sum + item.attempts, 0),
      states,
    };
  }

  /** Forgets everything learned for the project; the next choices start from the priors. */
  async reset(projectId: string): Promise<BanditState> {
    const project = await this.deps.projects.get(projectId);
    await this.deps.bandit.reset(project.id);
    return this.state(project.id);
  }
}

function sumByArm(items: readonly BanditCounts[]): Map<string, ArmCounts> {
  const sums = new Map<string, ArmCounts>();
  for (const item of items) {
    const key = armKey(item);
    const sum = sums.get(key) ?? { ...NO_COUNTS };
    sums.set(key, {
      attempts: sum.attempts + item.attempts,
      successes: sum.successes + item.successes,
      cost_usd: sum.cost_usd + item.cost_usd,
    });
  }
  return sums;
}
