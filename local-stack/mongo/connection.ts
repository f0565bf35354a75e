/**
 * One client connection: cut its byte stream into messages, run each request, and send the replies back in request
 * order — a reply that waits for the data file (a journaled write) holds back the ones after it.
 */
import type net from 'node:net';
import type { Document } from 'bson';
import type { CommandRequest } from './commands/context.ts';
import {
  MalformedRequest,
  MessageFramer,
  encodeReply,
  errorReply,
  parseRequest,
  type ParsedRequest,
  type ReplyTarget,
} from './protocol/codec.ts';
import { CommandError } from './protocol/errors.ts';

export interface ConnectionOptions {
  connectionId: number;
  run: (request: CommandRequest) => Document;
  log: (message: string) => void;
  /** The next reply id (one sequence for the whole server). */
  nextReplyId: () => number;
  /** The save a request's reply waits for (its write concern asks for the journal), or undefined to answer at once. */
  savedFor: (body: Document) => Promise<string | undefined> | undefined;
}

type Answer = (target: ReplyTarget, reply: Document, saved: Promise<string | undefined> | undefined) => void;

/** Sends replies on `socket` in request order; `hangUp` closes the connection, saying why in the log. */
function replyWriter(
  socket: net.Socket,
  { connectionId, log, nextReplyId }: ConnectionOptions,
): { answer: Answer; hangUp: (why: string) => void } {
  const hangUp = (why: string): void => {
    process.stderr.write(`[mongo] connection ${connectionId}: ${why}; closing it\n`);
    socket.destroy();
  };
  /**
   * Never throws: a reply that cannot be encoded (too large, or a value the serializer refuses) is answered with
   * that error instead, and if even that cannot be sent the connection is closed — the client then sees a
   * network error rather than waiting forever.
   */
  const send = (target: ReplyTarget, reply: Document): void => {
    if (socket.destroyed) return;
    const replyId = nextReplyId();
    let bytes: Buffer;
    try {
      bytes = encodeReply(target, replyId, reply);
    } catch (error) {
      const reason =
        error instanceof CommandError
          ? error
          : new CommandError(
              1,
              'InternalError',
              `the reply could not be encoded: ${(error as Error)?.message ?? String(error)}`,
            );
      log(`connection ${connectionId}: ${reason.message}; answering with that error instead`);
      try {
        bytes = encodeReply(target, replyId, errorReply(reason));
      } catch (again) {
        hangUp(`not even an error reply could be encoded: ${(again as Error)?.message ?? String(again)}`);
        return;
      }
    }
    socket.write(bytes);
  };
  // Replies leave in request order: one waiting for the data file to be saved holds back those after it.
  let held: Promise<void> | undefined;
  const answer = (target: ReplyTarget, reply: Document, saved: Promise<string | undefined> | undefined): void => {
    if (saved === undefined && held === undefined) {
      send(target, reply);
      return;
    }
    const mine: Promise<void> = Promise.all([held, saved])
      .then(([, failure]) => {
        if (failure === undefined || reply.ok !== 1) return send(target, reply);
        // Applied but not durable: what mongod reports when a write concern cannot be satisfied.
        send(target, {
          ...reply,
          writeConcernError: {
            code: 64,
            codeName: 'WriteConcernFailed',
            errmsg: `the write was applied but could not be saved: ${failure}`,
          },
        });
      })
      // Neither `held` nor `saved` rejects and send never throws; should that change, the client still gets an answer.
      .catch((error: unknown) => hangUp(`internal error while replying: ${(error as Error)?.stack ?? String(error)}`))
      .finally(() => {
        if (held === mine) held = undefined;
      });
    held = mine;
  };
  return { answer, hangUp };
}

export function serveConnection(socket: net.Socket, options: ConnectionOptions): void {
  const { connectionId, log, run, savedFor } = options;
  socket.setNoDelay(true);
  const framer = new MessageFramer();
  const { answer, hangUp } = replyWriter(socket, options);
  socket.on('data', (chunk) => {
    try {
      for (const message of framer.push(chunk)) {
        let request: ParsedRequest;
        try {
          request = parseRequest(message);
        } catch (error) {
          if (!(error instanceof MalformedRequest)) throw error;
          log(`connection ${connectionId}: malformed request ${error.target.requestId}: ${error.message}`);
          if (!error.noReply) answer(error.target, errorReply(error.reason), undefined);
          continue;
        }
        const reply = run({ db: request.db, body: request.body, connectionId });
        if (request.noReply) continue;
        answer(request, reply, savedFor(request.body));
      }
    } catch (error) {
      // A frame we cannot cut (bad length) or an opcode we do not speak leaves the stream unframed: hang up.
      hangUp((error as Error)?.message ?? String(error));
    }
  });
  socket.on('error', () => socket.destroy());
}
