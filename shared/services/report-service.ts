// The comparison report of a project (GET /api/v1/projects/{id}/report, `autovibe report`): reads
// the project's attempts from the trajectory index and what each cost from the ledger (the one source
// of truth for money: the report and the P/L never disagree), and hands both to the report builder.
import type { Report, ReportQuery } from '../domain/report.js';
import { buildReport } from '../report/comparison.js';
import type { TrajectoryRepository } from '../store/trajectory-repository.js';
import { attemptKey, type LedgerService } from './ledger-service.js';
import type { ProjectService } from './project-service.js';

interface Deps {
  projects: ProjectService;
  trajectories: TrajectoryRepository;
  ledger: LedgerService;
}

export class ReportService {
  constructor(private readonly deps: Deps) {}

  /** The report over `query` (parsed by the caller from the request's query string). */
  async report(projectId: string, query: ReportQuery): Promise<Report> {
    const project = await this.deps.projects.get(projectId);
    const since = query.from ? new Date(query.from).toISOString() : undefined;
    const until = query.to ? new Date(query.to).toISOString() : undefined;
    const indexed = await this.deps.trajectories.listAll({ project_id: project.id, since, until });
    const costs = await this.deps.ledger.attemptCosts(project);
    const attempts = indexed.map((summary) => ({
      ...summary,
      cost: costs.get(attemptKey(summary.task_id, summary.attempt)) ?? 0,
    }));
    return buildReport({ projectId: project.id, currency: project.currency, query, attempts });
  }
}
