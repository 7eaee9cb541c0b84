// The comparison report of a project (GET /api/v1/projects/{id}/report, `autovibe report`): reads
// the project's attempts from the trajectory index and hands them to the report builder, costs in
// the project's currency at the configured rate.
import type { Report, ReportQuery } from '../domain/report.js';
import type { CurrencyConverter } from '../pricing/currency.js';
import { buildReport } from '../report/comparison.js';
import type { TrajectoryRepository } from '../store/trajectory-repository.js';
import type { ProjectService } from './project-service.js';

interface Deps {
  projects: ProjectService;
  trajectories: TrajectoryRepository;
  currencies: CurrencyConverter;
}

export class ReportService {
  constructor(private readonly deps: Deps) {}

  /** The report over `query` (parsed by the caller from the request's query string). */
  async report(projectId: string, query: ReportQuery): Promise<Report> {
    const project = await this.deps.projects.get(projectId);
    const since = query.from ? new Date(query.from).toISOString() : undefined;
    const until = query.to ? new Date(query.to).toISOString() : undefined;
    const attempts = await this.deps.trajectories.listAll({ project_id: project.id, since, until });
    return buildReport({
      projectId: project.id,
      currency: project.currency,
      ratePerUsd: this.deps.currencies.convert(1, project.currency),
      query,
      attempts,
    });
  }
}
