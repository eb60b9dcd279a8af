package dev.tollgate.proxy;

import dev.tollgate.proxy.http.OpenAiError;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.function.Consumer;

/**
 * The end of a metered response (the relay's {@code [DONE]} event, or a JSON body's last content), held until the
 * usage record is in the journal: a client that saw the whole response was metered, even if the process dies right
 * after. If the record was quarantined instead, the client never sees a clean end it was not billed for: an event
 * stream ends with an error event, a JSON body with a cut connection.
 *
 * <p>Threading: confined to the client channel's event loop; {@link #heldBytes} may be read by any thread (a gauge).
 */
final class ResponseTail {
    private final ChannelHandlerContext client;
    private final ProxyServices services;
    private final String requestId;
    private final boolean responsesApi;
    private SseRelay relay;
    private HttpContent last;

    ResponseTail(ChannelHandlerContext client, ProxyServices services, String requestId, boolean responsesApi) {
        this.client = client;
        this.responsesApi = responsesApi;
        this.services = services;
        this.requestId = requestId;
    }

    /**
     * Holds the response end: the relay's held tail, if there is a relay, and {@code lastContent} (null: an empty
     * end). Takes ownership of both.
     */
    void hold(SseRelay relay, HttpContent lastContent) {
        this.relay = relay;
        this.last = lastContent;
    }

    /**
     * The usage record is journaled: writes what was held, then calls {@code end} with whether the client left. An
     * exchange that already ended ({@code ended}) only frees it.
     */
    void deliver(boolean ended, boolean eventStream, Consumer<Boolean> end) {
        if (ended) {
            release();
            return;
        }
        if (services.settlement() != null && services.settlement().quarantined(requestId)) {
            // The record could not be journaled: the client must not see a clean end it was not billed for.
            release();
            if (eventStream) {
                endWithError(client, responsesApi, "The usage of this response could not be recorded; it is not "
                        + "complete.", "server_error", end);
            } else {
                client.flush();
                client.close();
                end.accept(true);
            }
            return;
        }
        ByteBuf tail = relay == null ? null : relay.takeTail();
        if (tail != null) {
            client.write(new DefaultHttpContent(tail), client.voidPromise());
        }
        HttpContent l = last != null ? last : LastHttpContent.EMPTY_LAST_CONTENT;
        last = null;
        client.writeAndFlush(l).addListener((ChannelFutureListener) f -> end.accept(!f.isSuccess()));
    }

    /** Frees whatever is still held (safe to call more than once). */
    void release() {
        if (relay != null) {
            relay.release();
        }
        if (last != null) {
            last.release();
            last = null;
        }
    }

    /** Bytes of a held JSON body end (a relay's held bytes are counted by the relay). */
    long heldBytes() {
        HttpContent l = last;
        return l == null ? 0 : l.content().readableBytes();
    }

    /**
     * Ends an event stream with an error event in the stream's own protocol (the Responses API's named
     * {@code error} event, else an OpenAI error object and {@code [DONE]}) and the end of the body.
     */
    static void endWithError(ChannelHandlerContext client, boolean responsesApi, String message, String type,
                             Consumer<Boolean> end) {
        client.write(new DefaultHttpContent(responsesApi
                ? OpenAiError.responsesStreamError(client.alloc(), message, type)
                : OpenAiError.streamError(client.alloc(), message, type, null)), client.voidPromise());
        client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT)
                .addListener((ChannelFutureListener) f -> end.accept(!f.isSuccess()));
    }
}
