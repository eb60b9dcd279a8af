package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The admission step of one metered exchange: asks the {@link AdmissionGate} whether the request may go ahead, and
 * turns a refusal into a local answer (400 when the request cannot be priced, 402 when payment is refused, 503 when
 * the gate failed). When the exchange ends while the gate is still deciding (the client left), its usage record is
 * deferred until the decision is in, so the journal finds whatever the gate reserved and returns it.
 *
 * <p>Threading: confined to the client channel's event loop; a decision completed on another thread is handed back
 * to that loop.
 */
final class ExchangeAdmission {
    /** Answers the client locally, before any upstream call. */
    @FunctionalInterface
    interface Refusal {
        void answer(HttpResponseStatus status, String message, String type, String param, Outcome outcome);
    }

    private static final Logger LOG = Logger.getLogger(ExchangeAdmission.class.getName());

    private final ChannelHandlerContext client;
    private final String requestId;
    private final BooleanSupplier finished;
    private final Runnable admitted;
    private final Refusal refuse;
    private final Consumer<Outcome> submitDeferred;
    private boolean pending;
    private Outcome deferred;

    ExchangeAdmission(ChannelHandlerContext client, String requestId, BooleanSupplier finished, Runnable admitted,
                      Refusal refuse, Consumer<Outcome> submitDeferred) {
        this.client = client;
        this.requestId = requestId;
        this.finished = finished;
        this.admitted = admitted;
        this.refuse = refuse;
        this.submitDeferred = submitDeferred;
    }

    /** Asks the gate; the answer runs {@code admitted} or a refusal, now or later on the client's loop. */
    void ask(AdmissionGate gate, String account, String worker, MeteredRequest metered, int bodyBytes) {
        // The lock's prompt part is bounded by the body's size: a byte-level BPE token covers at least one byte of
        // text, and the JSON around the text outweighs the chat template's few tokens per message. Tokenizing
        // here would put a 4 MB prompt's 0.4 s on the event loop.
        long promptBound = bodyBytes;
        var decision = gate.admit(requestId, account, worker, metered.model(), () -> promptBound,
                metered.maxTokens(), metered.choices()).toCompletableFuture();
        if (decision.isDone() && !decision.isCompletedExceptionally()) {
            decided(decision.getNow(null), null);
        } else {
            pending = true;
            decision.whenComplete((d, error) -> client.executor().execute(() -> decided(d, error)));
        }
    }

    /**
     * The exchange ended with {@code outcome}: returns true if its record must wait for the pending decision (it is
     * then submitted through {@code submitDeferred}), false if it may be submitted now.
     */
    boolean defer(Outcome outcome) {
        if (!pending) {
            return false;
        }
        deferred = outcome;
        return true;
    }

    private void decided(AdmissionGate.Decision decision, Throwable error) {
        pending = false;
        if (finished.getAsBoolean()) {
            if (deferred != null) {
                // The client left while admission was deciding: the record goes now, after whatever admission
                // reserved, so the journal finds the reservation and returns it (0 tokens were served).
                submitDeferred.accept(deferred);
                deferred = null;
            }
            return;
        }
        if (error != null) {
            LOG.log(Level.WARNING, "admission failed for " + requestId, error);
            refuse.answer(HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "Payment could not be arranged for this request; try again.", "upstream_error", null,
                    Outcome.PAYMENT_REQUIRED);
            return;
        }
        if (!decision.admitted() && decision.status() == 400) {
            refuse.answer(HttpResponseStatus.BAD_REQUEST, decision.message(), "invalid_request_error",
                    decision.param(), Outcome.REJECTED);
            return;
        }
        if (!decision.admitted() && decision.status() == 503) {
            // Settlement cannot work for this account until the operator fixes its configuration.
            refuse.answer(HttpResponseStatus.SERVICE_UNAVAILABLE, decision.message(), "server_error",
                    null, Outcome.PAYMENT_REQUIRED);
            return;
        }
        if (!decision.admitted()) {
            refuse.answer(HttpResponseStatus.PAYMENT_REQUIRED, decision.message(), "insufficient_quota", null,
                    Outcome.PAYMENT_REQUIRED);
            return;
        }
        admitted.run();
    }
}
