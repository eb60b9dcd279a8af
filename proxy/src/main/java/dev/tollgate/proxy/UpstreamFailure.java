package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * How an exchange ends when its upstream fails after it was called (closed early, or silent past its idle timeout),
 * once the upstream connection is gone: before the response head, a local error answer; in an event stream, an error
 * event whose end waits for the usage record's journal like any stream end; in any other body, a cut connection so
 * the client sees a short body.
 *
 * <p>Threading: confined to the client channel's event loop.
 */
final class UpstreamFailure {
    /** Answers the client locally with an upstream error. */
    @FunctionalInterface
    interface LocalAnswer {
        void answer(HttpResponseStatus status, String message, Outcome outcome);
    }

    private final ChannelHandlerContext client;
    private final boolean metered;
    private final boolean responsesApi;
    private final BooleanSupplier finished;
    private final LocalAnswer answer;
    private final BiConsumer<Outcome, Runnable> submitThen;
    private final Consumer<Boolean> end;
    private final Consumer<Outcome> finish;

    /**
     * @param submitThen submits the usage record, then runs the given step on this loop once it is journaled
     * @param end        ends the exchange after its record was submitted (argument: the client left)
     * @param finish     ends the exchange and submits its record
     */
    UpstreamFailure(ChannelHandlerContext client, boolean metered, boolean responsesApi, BooleanSupplier finished,
                    LocalAnswer answer, BiConsumer<Outcome, Runnable> submitThen, Consumer<Boolean> end,
                    Consumer<Outcome> finish) {
        this.client = client;
        this.metered = metered;
        this.responsesApi = responsesApi;
        this.finished = finished;
        this.answer = answer;
        this.submitThen = submitThen;
        this.end = end;
        this.finish = finish;
    }

    void fail(boolean responseStarted, boolean eventStream, String message, Outcome outcome,
              HttpResponseStatus statusBeforeHead) {
        if (!responseStarted) {
            answer.answer(statusBeforeHead, message, outcome == Outcome.STREAM_ERROR ? Outcome.UPSTREAM_ERROR : outcome);
            return;
        }
        if (eventStream) {
            // The error event (then [DONE], except in the Responses API) waits for the usage record's journal like
            // any stream end.
            Runnable endStream = () -> {
                if (finished.getAsBoolean()) {
                    return;
                }
                ResponseTail.endWithError(client, responsesApi, message, "upstream_error", end);
            };
            if (metered) {
                submitThen.accept(outcome, endStream);
            } else {
                endStream.run();
            }
        } else {
            // A non-streamed body cannot be ended honestly: cut the connection so the client sees a short body.
            client.flush();
            client.close();
            finish.accept(outcome);
        }
    }
}
