/**
 * What one API request is answered with: the route's real answer, unless this request's fault draws (or the
 * refusals before it: rate limit, method, Yelp key) replace it. Decided before any delay.
 */
import { YelpDataset } from './data/yelp-data.ts';
import {
  DEFAULT_RETRY_AFTER_SECONDS,
  DEFAULT_SLOW_MS,
  corruptAnswer,
  faultDraws,
  malformedBody,
  rateLimitAnswer,
  serverErrorAnswer,
  validFaults,
  type FaultDraws,
  type FaultOptions,
} from './faults.ts';
import { answerItem, hnError } from './hn-routes.ts';
import {
  BUSINESS_PATTERN,
  ITEM_PATTERN,
  SEARCH_PATTERN,
  notFoundAnswer,
  type Answer,
  type Api,
  type Route,
} from './routes.ts';
import { answerBusiness, answerSearch, yelpError } from './yelp-routes.ts';

/** What will be written, decided before any delay. */
export interface PlannedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  slow: boolean;
}

function jsonResponse(answer: Answer, fault?: string): PlannedResponse {
  return {
    status: answer.status,
    headers: { 'content-type': 'application/json', ...(fault ? { 'x-fixture-fault': fault } : {}), ...answer.headers },
    body: JSON.stringify(answer.body),
    slow: false,
  };
}

export class ResponsePlanner {
  private readonly dataset: YelpDataset;
  private faults: FaultOptions;
  /** API requests since the faults were last set: drives rateLimitEvery. */
  private apiRequestsSinceFaults = 0;

  constructor(
    private readonly seed: number,
    private readonly apiKey: string,
    faults: FaultOptions,
  ) {
    this.faults = validFaults(faults);
    this.dataset = new YelpDataset(seed);
  }

  /** Replaces the fault options (not merged) and restarts the rateLimitEvery count. */
  setFaults(faults: FaultOptions): void {
    this.faults = validFaults(faults);
    this.apiRequestsSinceFaults = 0;
  }

  /** The extra delay of an answer planned as slow. */
  slowMs(): number {
    return this.faults.slowMs ?? DEFAULT_SLOW_MS;
  }

  /**
   * The answer to request number `requestNumber`, marked slow (with whatever fault it already carries) when this
   * request drew a delay.
   */
  plan(
    method: string,
    url: URL,
    route: Route,
    authorization: string | undefined,
    requestNumber: number,
  ): PlannedResponse {
    const draws = faultDraws(this.seed, requestNumber);
    const response = this.planAnswer(method, url, route, authorization, draws);
    if (route.api === undefined || !(draws.slow < (this.faults.slowRate ?? 0))) return response;
    const fault = response.headers['x-fixture-fault'];
    return {
      ...response,
      slow: true,
      headers: { ...response.headers, 'x-fixture-fault': fault ? `${fault},slow` : 'slow' },
    };
  }

  private planAnswer(
    method: string,
    url: URL,
    route: Route,
    authorization: string | undefined,
    draws: FaultDraws,
  ): PlannedResponse {
    const { faults } = this;
    const api = route.api;
    if (api === undefined) return jsonResponse(notFoundAnswer(route, url.pathname));
    const refused = this.refusal(api, method, authorization);
    if (refused) return refused;

    const answer = this.routeAnswer(url, route);
    const targeted = (ids: readonly string[] | undefined): boolean =>
      ids !== undefined &&
      ((route.id !== undefined && ids.includes(route.id)) ||
        (answer.resolvedId !== undefined && ids.includes(answer.resolvedId)));

    if (targeted(faults.failIds) || draws.serverError < (faults.serverErrorRate ?? 0)) {
      const failure = serverErrorAnswer(api, draws.serverErrorStatus);
      return {
        status: failure.status,
        headers: { 'content-type': failure.contentType, 'x-fixture-fault': 'server-error' },
        body: failure.body,
        slow: false,
      };
    }
    if (answer.status === 200 && (targeted(faults.malformedIds) || draws.malformed < (faults.malformedRate ?? 0))) {
      const broken = malformedBody(JSON.stringify(answer.body), draws.rest);
      return {
        status: 200,
        headers: { 'content-type': broken.contentType, 'x-fixture-fault': 'malformed' },
        body: broken.body,
        slow: false,
      };
    }
    if (answer.status === 200 && draws.invalidRecord < (faults.invalidRecordRate ?? 0)) {
      return jsonResponse(
        { status: 200, body: corruptAnswer(api, route.pattern, answer.body, draws.rest) },
        'invalid-record',
      );
    }
    return jsonResponse(answer);
  }

  /** What comes before the route's answer, in this order: the rate limit (429), the method (405), the Yelp key (401). */
  private refusal(api: Api, method: string, authorization: string | undefined): PlannedResponse | undefined {
    const { faults } = this;
    this.apiRequestsSinceFaults++;
    if (faults.rateLimitEvery !== undefined && this.apiRequestsSinceFaults % faults.rateLimitEvery === 0) {
      const answer = rateLimitAnswer(api);
      answer.headers = { 'retry-after': String(faults.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS) };
      return jsonResponse(answer, 'rate-limit');
    }
    if (method !== 'GET' && method !== 'HEAD') {
      const answer =
        api === 'yelp'
          ? yelpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use GET.`)
          : hnError(405, 'Method Not Allowed');
      answer.headers = { allow: 'GET, HEAD' };
      return jsonResponse(answer);
    }
    if (api === 'yelp') {
      const token = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
      if (token === undefined || token === '') {
        return jsonResponse(
          yelpError(401, 'TOKEN_MISSING', 'An access token must be supplied in order to use this endpoint.'),
        );
      }
      if (token !== this.apiKey)
        return jsonResponse(yelpError(401, 'TOKEN_INVALID', 'Invalid access token or authorization header.'));
    }
    return undefined;
  }

  /** The route's real answer (the Yelp routes need the key, checked before). */
  private routeAnswer(url: URL, route: Route): Answer {
    return route.pattern === SEARCH_PATTERN
      ? answerSearch(this.dataset, url.searchParams)
      : route.pattern === BUSINESS_PATTERN && route.id !== undefined
        ? answerBusiness(this.dataset, route.id)
        : route.pattern === ITEM_PATTERN && route.id !== undefined
          ? answerItem(this.seed, route.id)
          : notFoundAnswer(route, url.pathname);
  }
}
