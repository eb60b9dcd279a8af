package dev.tollgate.proxy;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;

/**
 * Whether the upstream may be read again: only while the client channel is writable. Remembers a read that waits
 * for the client, and tells a stalled client (one that has not taken what was written to it) from an idle exchange.
 *
 * <p>Threading: confined to the client channel's event loop; {@link #pendingBytes} may be read by any thread (a
 * gauge).
 */
final class ClientBackpressure {
    private final ChannelHandlerContext client;
    private boolean awaitingWritability;

    ClientBackpressure(ChannelHandlerContext client) {
        this.client = client;
    }

    /** After an upstream read: true if the upstream may be read now; otherwise the read waits for the client. */
    boolean mayRead() {
        if (client.channel().isWritable()) {
            return true;
        }
        awaitingWritability = true;
        return false;
    }

    /** The client's writability changed: true (once) if a waiting read may go now. */
    boolean resume() {
        if (awaitingWritability && client.channel().isWritable()) {
            awaitingWritability = false;
            return true;
        }
        return false;
    }

    /** Whether a read waits for the client to become writable. */
    boolean awaiting() {
        return awaitingWritability;
    }

    /** Whether the client has not taken what was written to it (or a read waits for it). */
    boolean stalled() {
        return awaitingWritability || pendingBytes() > 0;
    }

    /** Bytes written to the client channel and not yet taken by its socket. */
    long pendingBytes() {
        ChannelOutboundBuffer b = client.channel().unsafe().outboundBuffer();
        return b == null ? 0 : b.totalPendingWriteBytes();
    }
}
