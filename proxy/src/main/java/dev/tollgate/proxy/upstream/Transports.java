package dev.tollgate.proxy.upstream;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;

/**
 * The socket transport of the proxy's event loops: Netty's native epoll on Linux when it loads (fewer copies and
 * no selector bookkeeping per read and write), else Java NIO. {@code -Dtollgate.transport=nio} forces NIO. Channel
 * classes follow the event loop group they are registered on, so a group made elsewhere (tests, tools) keeps
 * working with whatever it is.
 *
 * <p>Threading: stateless, thread-safe.
 */
public final class Transports {
    private static final boolean EPOLL = !"nio".equalsIgnoreCase(System.getProperty("tollgate.transport"))
            && Epoll.isAvailable();

    private Transports() {
    }

    /** The I/O handler for new event loop groups: epoll when available, else NIO. */
    public static IoHandlerFactory ioHandlerFactory() {
        return EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    }

    /** Whether {@code group} runs native epoll. */
    public static boolean isEpoll(EventLoopGroup group) {
        return group instanceof IoEventLoopGroup io && io.isIoType(EpollIoHandler.class);
    }

    /** The client socket channel class for {@code group}. */
    public static Class<? extends SocketChannel> socketChannel(EventLoopGroup group) {
        return isEpoll(group) ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    /** The listening socket channel class for {@code group}. */
    public static Class<? extends ServerSocketChannel> serverChannel(EventLoopGroup group) {
        return isEpoll(group) ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }
}
