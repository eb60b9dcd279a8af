package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The request deadline on a keep-alive connection, on the channel's own clock: each request gets the full
 * deadline from its own first byte (one timer serves the connection, so a timer set for an earlier request must
 * not cut a later one early), a request still incomplete at its deadline gets 408 and the connection closes, and
 * a connection that waits between requests is never cut.
 */
class RequestDeadlineTest {
    private static final long DEADLINE_MS = 500;

    @Test
    void aLaterRequestOnTheConnectionGetsItsOwnFullDeadline() {
        RequestDeadline deadline = new RequestDeadline(DEADLINE_MS);
        EmbeddedChannel ch = new EmbeddedChannel(deadline);
        ch.freezeTime();
        // First request: arrives whole at t=0 and is answered at t=300 ms.
        receive(ch, "POST /v1/chat/completions HTTP/1.1\r\n\r\n");
        deadline.requestReceived();
        ch.advanceTimeBy(300, TimeUnit.MILLISECONDS);
        deadline.responseSent();
        // Second request starts at t=300 ms and trickles: its deadline is t=800 ms, not the first's t=500 ms.
        receive(ch, "P");
        ch.advanceTimeBy(200, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        assertNull(ch.readOutbound(), "not cut at the first request's deadline");
        assertTrue(ch.isActive());
        ch.advanceTimeBy(299, TimeUnit.MILLISECONDS);
        receive(ch, "O");
        ch.runScheduledPendingTasks();
        assertNull(ch.readOutbound(), "1 ms before its own deadline");
        ch.advanceTimeBy(1, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        FullHttpResponse timeout = ch.readOutbound();
        try {
            assertEquals(408, timeout.status().code());
            assertTrue(timeout.content().toString(StandardCharsets.UTF_8).contains("\"code\":\"request_timeout\""));
        } finally {
            timeout.release();
        }
        assertFalse(ch.isActive(), "the trickling client is disconnected");
        ch.finishAndReleaseAll();
    }

    @Test
    void aConnectionWaitingBetweenRequestsIsNotCut() {
        RequestDeadline deadline = new RequestDeadline(DEADLINE_MS);
        EmbeddedChannel ch = new EmbeddedChannel(deadline);
        ch.freezeTime();
        for (int i = 0; i < 3; i++) {
            receive(ch, "POST /v1/chat/completions HTTP/1.1\r\n\r\n");
            deadline.requestReceived();
            ch.advanceTimeBy(100, TimeUnit.MILLISECONDS);
            deadline.responseSent();
        }
        // Keep-alive with nothing sent for ten deadlines (the idle timeout, a separate handler, governs this).
        for (int i = 0; i < 10; i++) {
            ch.advanceTimeBy(DEADLINE_MS, TimeUnit.MILLISECONDS);
            ch.runScheduledPendingTasks();
        }
        assertNull(ch.readOutbound());
        assertTrue(ch.isActive());
        // The next request still has a deadline.
        receive(ch, "POST");
        ch.advanceTimeBy(DEADLINE_MS, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        FullHttpResponse timeout = ch.readOutbound();
        try {
            assertEquals(408, timeout.status().code());
        } finally {
            timeout.release();
        }
        ch.finishAndReleaseAll();
    }

    /** Bytes from the client; the handler passes them on, and the test drops them (there is no codec). */
    private static void receive(EmbeddedChannel ch, String bytes) {
        ch.writeInbound(Unpooled.copiedBuffer(bytes, StandardCharsets.US_ASCII));
        ByteBuf in;
        while ((in = ch.readInbound()) != null) {
            in.release();
        }
    }
}
