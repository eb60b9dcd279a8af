package dev.tollgate.proxy.upstream;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;

/**
 * Last handler of an upstream connection: hands everything to the exchange currently using the connection.
 * With no exchange attached (an idle pooled connection), any message is released and the connection is
 * closed: an idle HTTP/1.1 connection has nothing to say.
 *
 * <p>Threading: event loop only.
 */
public final class UpstreamRelayHandler extends ChannelInboundHandlerAdapter {
    private UpstreamEvents exchange;

    /** Attaches the exchange that will receive this connection's events. */
    public void attach(UpstreamEvents exchange) {
        this.exchange = exchange;
    }

    void detach() {
        this.exchange = null;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        UpstreamEvents e = exchange;
        if (e == null) {
            ReferenceCountUtil.release(msg);
            ctx.close();
            return;
        }
        e.onUpstreamMessage(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        UpstreamEvents e = exchange;
        if (e != null) {
            e.onUpstreamReadComplete();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        UpstreamEvents e = exchange;
        exchange = null;
        if (e != null) {
            e.onUpstreamClosed();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            UpstreamEvents e = exchange;
            if (e == null) {
                ctx.close();
            } else {
                e.onUpstreamIdle();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        UpstreamEvents e = exchange;
        if (e != null) {
            e.onUpstreamFailure(cause);
        }
        ctx.close();
    }
}
