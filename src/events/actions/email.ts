import nodemailer from 'nodemailer';
import type { z } from 'zod';
import type { emailActionSchema } from '../model.js';
import { type ActionContext, fill, PermanentError } from './template.js';

export type EmailAction = z.output<typeof emailActionSchema>;

/** `smtp.*` of the server configuration. */
export interface SmtpSettings {
  host: string;
  port: number;
  /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  /** Refuse to send without STARTTLS. */
  requireTls: boolean;
  user: string;
  password: string;
  from: string;
}

/** One transport per settings (nodemailer pools nothing by default: a connection per mail). */
export function emailSender(smtp: SmtpSettings) {
  const transport = smtp.host
    ? nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.secure,
        requireTLS: smtp.requireTls,
        ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password } } : {}),
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 60_000,
      })
    : undefined;
  return async (action: EmailAction, ctx: ActionContext): Promise<void> => {
    if (!transport) throw new PermanentError('email: smtp.host is not configured on this server');
    const e = ctx.event;
    const text =
      action.body === undefined
        ? `${Object.entries(e)
            .map(([k, v]) => `${k}: ${v}`)
            .join('\n')}\nrule: ${ctx.rule}\ndelivery: ${ctx.deliveryId}\n`
        : fill(action.body, ctx);
    try {
      await transport.sendMail({
        from: smtp.from,
        to: action.to,
        subject: fill(action.subject, ctx).replace(/[\r\n]+/g, ' '),
        text,
        headers: { 'X-Ferry-Delivery': ctx.deliveryId },
      });
    } catch (err) {
      const m = (err as { response?: string; code?: string; message?: string }) ?? {};
      // nodemailer's messages carry no password; keep them short.
      throw new Error(`email: ${(m.response ?? m.code ?? m.message ?? 'failed').slice(0, 300)}`);
    }
  };
}
