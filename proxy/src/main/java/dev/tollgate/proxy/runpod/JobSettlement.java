package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.util.concurrent.Executor;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Ends a job's escrow once RunPod says the job ended: turns the terminal answer into one {@link UsageRecord}
 * (counts from {@link JobUsage}; duration = {@code executionTime}, which is what {@code per_second} prices;
 * {@code delayTime} is kept in the job journal and never billed) and hands it to the metering agent, whose
 * settlement journal releases the cost from the job's hold and refunds the rest, exactly once per request id.
 * Terminal states: {@code COMPLETED} is paid; {@code FAILED}, {@code CANCELLED}, {@code TIMED_OUT} and a job
 * RunPod no longer knows (404 after its TTL) are refunded, unless the worker's own usage shows work and the
 * account says {@code job_partial: pay} (then what was served is paid). A completed job may earn the account's
 * performance bonus, paid from the payer's balance once its usage is journaled; a job whose hold did not last
 * until its end is paid from the payer's balance ({@link UnheldCost}).
 *
 * <p>Threading: {@link #settle} on the RunPod thread (it writes the journal and may run the tokenizer).
 */
final class JobSettlement {
    private static final Logger LOG = Logger.getLogger(JobSettlement.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();

    /** RunPod has no such job (any more): its TTL expired, or the queue was purged. */
    static final String GONE = "GONE";
    /** RunPod never took the job: the submission was refused or never answered. */
    static final String NOT_SUBMITTED = "NOT_SUBMITTED";

    private final MeteringAgent metering;
    private final SettlementService settlement;
    private final JobJournal journal;
    private final JobTerms terms;
    private final TokenEstimator tokens;
    private final Executor executor;
    private final UnheldCost unheld;

    JobSettlement(MeteringAgent metering, SettlementService settlement, JobJournal journal, JobTerms terms,
                  TokenEstimator tokens, Executor executor) {
        this.metering = metering;
        this.settlement = settlement;
        this.journal = journal;
        this.terms = terms;
        this.tokens = tokens;
        this.executor = executor;
        this.unheld = new UnheldCost(settlement);
    }

    static boolean terminal(String status) {
        return "COMPLETED".equals(status) || "FAILED".equals(status) || "CANCELLED".equals(status)
                || "TIMED_OUT".equals(status);
    }

    /**
     * Settles a job: {@code answer} is RunPod's terminal answer (null when {@code jobStatus} is {@link #GONE} or
     * {@link #NOT_SUBMITTED}); {@code httpStatus} is what the record says the client got.
     */
    void settle(Job job, String jobStatus, JsonNode answer, int httpStatus) {
        JsonNode input = parse(job.input());
        JsonNode output = answer == null ? null : answer.get("output");
        JobUsage.Usage usage = JobUsage.of(input, output, tokens);
        long delayMs = answer == null ? 0 : Math.max(0, JobUsage.count(answer.get("delayTime")));
        long executionMs = answer == null ? 0 : Math.max(0, JobUsage.count(answer.get("executionTime")));
        Outcome outcome;
        if ("COMPLETED".equals(jobStatus)) {
            outcome = Outcome.COMPLETED;
        } else if (usage.completion() > 0 && usage.kind() != JobUsage.Kind.ESTIMATED
                && terms.of(job.account()).payPartial()) {
            outcome = Outcome.STREAM_ERROR; // Work the worker reports, paid because the account says so.
        } else {
            outcome = jobStatus.equals(NOT_SUBMITTED) ? Outcome.UPSTREAM_UNREACHABLE : Outcome.UPSTREAM_ERROR;
        }
        long execNanos = executionMs * 1_000_000L;
        JsonNode stream = JobUsage.openAiInput(input).get("stream");
        UsageRecord record = new UsageRecord(job.requestId(), job.account(), job.upstream(), job.model(),
                job.chat() ? Route.CHAT_COMPLETIONS : Route.COMPLETIONS, stream != null && stream.asBoolean(false),
                usage.prompt(), usage.completion(), usage.kind().source(), job.maxTokens(), job.submittedMs(), -1,
                execNanos, executionMs > 0 ? execNanos : -1, -1, outcome, httpStatus);
        journal.settling(job.requestId(), jobStatus, answer == null ? null : answer.toString(), delayMs, executionMs);
        metering.submit(record, () -> executor.execute(() -> journaled(job, record)));
    }

    /** The record is in the journal: a completed job may earn its bonus; then the job is settled. */
    private void journaled(Job job, UsageRecord r) {
        try {
            // Cost no hold paid (a stream-budget reservation lost with a restart, a hold refunded at expiry).
            unheld.charge(job, r);
            JobTerms.Bonus bonus = terms.of(job.account()).bonus();
            if (bonus != null && r.outcome() == Outcome.COMPLETED && settlement.settles(job.account())) {
                long micros = bonus(bonus, r);
                if (micros > 0) {
                    settlement.payBonus("bonus-job:" + job.requestId(), job.requestId(), job.account(), job.worker(),
                            micros);
                }
            }
            // After the bonus (its operation id makes it once only): a crash in between pays it on the resume.
            journal.settled(job.requestId());
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "finishing RunPod job " + job.requestId(), e);
        }
    }

    /**
     * The seed's performance bonus: improvement over the baseline (tokens/s higher, or execution time lower), paid
     * as {@code pool x improvement}, capped at the pool, when the improvement reaches the minimum. Integer
     * arithmetic in basis points.
     */
    static long bonus(JobTerms.Bonus b, UsageRecord r) {
        long achievedMilli;
        long improvementBps;
        if (b.tokensPerSecond()) {
            achievedMilli = r.milliTokensPerSecond();
            if (achievedMilli < 0) {
                return 0;
            }
            improvementBps = (achievedMilli - b.baselineMilli()) * 10_000L / b.baselineMilli();
        } else {
            if (r.durationNanos() <= 0) {
                return 0;
            }
            achievedMilli = r.durationNanos() / 1_000L; // ms x 1000
            improvementBps = (b.baselineMilli() - achievedMilli) * 10_000L / b.baselineMilli();
        }
        if (improvementBps <= 0 || improvementBps < b.minImprovementPct() * 100L) {
            return 0;
        }
        // Capped at the pool: an improvement of 100% or more pays all of it.
        return b.poolMicros() * Math.min(improvementBps, 10_000L) / 10_000L;
    }

    static JsonNode parse(String json) {
        try {
            return json == null ? null : JSON.readTree(json);
        } catch (java.io.IOException e) {
            return null;
        }
    }
}
