package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.pricing.Price;
import java.time.Clock;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;

/**
 * Decides whether a request may be forwarded, by its account's policy: a per-request lock, a per-call charge, a
 * stream-budget reservation or the opening of a budget's next escrow is decided in memory on the caller's thread
 * (the future is already complete; the durable write follows in the journal's next group commit); a billing period
 * or a post-pay standing check completes on the ledger executor. Accounts funded by
 * configuration are credited once, on first use.
 *
 * <p>Threading: any thread; never blocks its caller.
 */
final class SettlementAdmission {
    private final SettlementConfig cfg;
    private final Database db;
    private final EmbeddedLedger ledger;
    private final Clock clock;
    private final PerRequestPolicy perRequest;
    private final StreamBudgetPolicy streamBudget;
    private final PerCallPolicy perCall;
    private final PeriodPolicy periods;
    private final boolean postPaid;
    private final LedgerIntents intents;
    private final Set<String> funded;
    private final ExecutorService executor;
    private final Runnable journalWake;
    private final java.util.function.BooleanSupplier journalBehind;
    private final Runnable awaitJournal;

    SettlementAdmission(SettlementConfig cfg, Database db, EmbeddedLedger ledger, Clock clock,
                        PerRequestPolicy perRequest, StreamBudgetPolicy streamBudget, PerCallPolicy perCall,
                        PeriodPolicy periods, boolean postPaid, LedgerIntents intents, Set<String> funded,
                        ExecutorService executor, Runnable journalWake, java.util.function.BooleanSupplier journalBehind,
                        Runnable awaitJournal) {
        this.cfg = cfg;
        this.db = db;
        this.ledger = ledger;
        this.clock = clock;
        this.perRequest = perRequest;
        this.streamBudget = streamBudget;
        this.perCall = perCall;
        this.periods = periods;
        this.postPaid = postPaid;
        this.intents = intents;
        this.funded = funded;
        this.executor = executor;
        this.journalWake = journalWake;
        this.journalBehind = journalBehind;
        this.awaitJournal = awaitJournal;
    }

    /** {@link #admit(String, String, String, String, long, long, int)} for one choice. */
    public CompletableFuture<Admission> admit(String requestId, String account, String worker, String model,
                                              long promptTokenEstimate, long maxTokens) {
        return admit(requestId, account, worker, model, promptTokenEstimate, maxTokens, 1);
    }

    /**
     * Decides whether a request may be forwarded. Per-request locks and stream-budget reservations from an open
     * budget are decided in memory on the caller's thread (the returned future is already complete; the durable
     * lock follows in the journal's next group commit), and so is opening a budget's next escrow.
     *
     * @param maxTokens completion token limit per choice, or -1 for the account's default
     * @param choices   completions the request may generate ({@code max(n, best_of)})
     */
    public CompletableFuture<Admission> admit(String requestId, String account, String worker, String model,
                                              long promptTokenEstimate, long maxTokens, int choices) {
        return refusedOnlyWhenCaughtUp(() -> decide(requestId, account, worker, model, promptTokenEstimate, maxTokens,
                choices));
    }

    private CompletableFuture<Admission> decide(String requestId, String account, String worker, String model,
                                                long promptTokenEstimate, long maxTokens, int choices) {
        AccountPolicy p = cfg.policyOf(account);
        if (p.kind() == PolicyKind.NONE) {
            return CompletableFuture.completedFuture(Admission.FREE);
        }
        fundOnFirstUse(account, p);
        if (p.kind() == PolicyKind.PER_CALL) {
            Admission a = perCall.admit(requestId, account, worker, p);
            if (a.admitted()) {
                journalWake.run();
            }
            return CompletableFuture.completedFuture(a);
        }
        if (p.kind().pattern()) {
            return periods.admit(account, worker, p);
        }
        Price price = cfg.priceOf(model);
        if (price == null) {
            return CompletableFuture.completedFuture(Admission.invalid("No price is configured for the model '"
                    + model + "' and the account " + account + " pays per use; ask the operator to add it to "
                    + "settlement.prices.", "model"));
        }
        if (postPaid) {
            return CompletableFuture.supplyAsync(() -> PostPayAdmission.decide(
                    db.transaction(c -> PostPayPolicy.standing(c, account, worker)), account, worker), executor);
        }
        long worst;
        try {
            long completion = Math.multiplyExact(maxTokens >= 0 ? maxTokens : p.defaultMaxTokens(),
                    (long) Math.max(1, choices));
            worst = price.microsUpperBound(promptTokenEstimate, completion);
        } catch (ArithmeticException e) {
            return CompletableFuture.completedFuture(Admission.invalid("The request's worst case (max_tokens x n) "
                    + "is too large to price.", "max_tokens"));
        }
        if (p.kind() == PolicyKind.PER_REQUEST) {
            Admission a = perRequest.admit(requestId, account, worker, model, Math.max(cfg.minLockMicros(), worst));
            if (a.admitted()) {
                journalWake.run();
            }
            return CompletableFuture.completedFuture(a);
        }
        return CompletableFuture.completedFuture(streamBudget.admit(requestId, account, worker, worst, p));
    }

    /**
     * Admission of a request whose worst case is an amount rather than a token count (a RunPod job priced by its
     * account's job budget or a budget header): locks ({@code per_request}, at least the minimum lock) or reserves
     * ({@code stream_budget}) {@code micros}, exactly as {@link #admit} does for a token worst case.
     */
    public CompletableFuture<Admission> admitAmount(String requestId, String account, String worker, String model,
                                                    long micros) {
        return refusedOnlyWhenCaughtUp(() -> decideAmount(requestId, account, worker, model, micros));
    }

    private CompletableFuture<Admission> decideAmount(String requestId, String account, String worker, String model,
                                                      long micros) {
        AccountPolicy p = cfg.policyOf(account);
        if (p.kind() == PolicyKind.NONE || postPaid) {
            // Post-paid backends lock nothing: the token path decides (arrears only).
            return decide(requestId, account, worker, model, 0, 0, 1);
        }
        fundOnFirstUse(account, p);
        if (cfg.priceOf(model) == null) {
            return decide(requestId, account, worker, model, 0, 0, 1);
        }
        if (p.kind() == PolicyKind.PER_REQUEST) {
            Admission a = perRequest.admit(requestId, account, worker, model, Math.max(cfg.minLockMicros(), micros));
            if (a.admitted()) {
                journalWake.run();
            }
            return CompletableFuture.completedFuture(a);
        }
        return CompletableFuture.completedFuture(streamBudget.admit(requestId, account, worker, micros, p));
    }

    /**
     * A request refused for want of funds while the journal's writer still holds records handed to it (whose
     * refunds and returned units memory does not count yet) is decided again once the writer caught up, on the
     * ledger executor: a client that waits for each response before sending the next is never refused for funds
     * its previous request gave back.
     */
    private CompletableFuture<Admission> refusedOnlyWhenCaughtUp(
            java.util.function.Supplier<CompletableFuture<Admission>> decide) {
        // Asked before deciding: if the writer had caught up then, the decision saw every record handed over.
        boolean behind = journalBehind.getAsBoolean();
        CompletableFuture<Admission> first = decide.get();
        if (!behind || !first.isDone() || first.isCompletedExceptionally() || first.join().status() != 402) {
            return first;
        }
        return CompletableFuture.runAsync(awaitJournal, executor).thenCompose(caughtUp -> decide.get());
    }

    /**
     * An entry read back from the usage log at start-up: the reservations its admission made in the previous
     * process are counted again in memory, so that it is written exactly as it would have been.
     */
    void restore(Object entry) {
        if (entry instanceof LedgerIntents.Lock lock) {
            ledger.funds().reserveReplayed(lock.account(), lock.amountMicros());
        } else if (entry instanceof StreamBudgetPolicy.Open open) {
            ledger.funds().reserveReplayed(open.account(), open.amountMicros());
        } else if (entry instanceof PerCallPolicy.Charge charge) {
            ledger.funds().reserveReplayed(charge.account(), charge.micros());
        } else if (entry instanceof JournalEntries.LoggedUsage u && u.reservation() != null) {
            streamBudget.restore(u.record().requestId(), u.reservation());
        }
    }

    /** A wildcard policy funds each new account once, on first use, in the next commit. */
    private void fundOnFirstUse(String account, AccountPolicy p) {
        if (p.fundMicros() > 0 && !funded.contains(account) && funded.add(account)) {
            ledger.funds().expectCredit(account, p.fundMicros());
            intents.offer(new LedgerIntents.Credit("fund:" + account, account, p.fundMicros()));
            journalWake.run();
        }
    }
}
