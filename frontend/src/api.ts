// The API clients: gRPC-web to the gateway on the page's own origin, with the session's access
// token on every call that needs one. A unary call answered Unauthenticated is retried once
// after a silent refresh; if the refresh fails the session ends and the app shows sign-in.

import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService } from "./gen/todo/v1/auth_service_pb";
import { TaskService } from "./gen/todo/v1/task_service_pb";
import { SyncService } from "./gen/todo/v1/sync_service_pb";
import { AuditService } from "./gen/todo/v1/audit_service_pb";
import { NotificationService } from "./gen/todo/v1/notification_service_pb";
import { Session } from "./lib/session";

/** AuthService calls that need no token. */
const PUBLIC_METHODS = new Set(["SignUp", "SignIn", "Refresh"]);

const baseUrl = window.location.origin;
const plainTransport = createGrpcWebTransport({ baseUrl });

/** AuthService without the session (sign up, sign in, refresh). */
export const authClient = createClient(AuthService, plainTransport);

/** The browser's session. */
export const session = new Session(async (refreshToken) => {
  const response = await authClient.refresh({ refreshToken });
  return response.tokens;
});

const withAccessToken: Interceptor = (next) => async (request) => {
  if (request.service.typeName === AuthService.typeName && PUBLIC_METHODS.has(request.method.name)) {
    return next(request);
  }
  const sent = await session.accessToken();
  request.header.set("authorization", `Bearer ${sent}`);
  try {
    return await next(request);
  } catch (error) {
    if (request.stream || ConnectError.from(error).code !== Code.Unauthenticated) throw error;
    request.header.set("authorization", `Bearer ${await session.freshTokenAfter(sent)}`);
    return await next(request);
  }
};

const transport = createGrpcWebTransport({ baseUrl, interceptors: [withAccessToken] });

/** The signed-in user's clients. */
export const api = {
  auth: createClient(AuthService, transport),
  tasks: createClient(TaskService, transport),
  sync: createClient(SyncService, transport),
  audit: createClient(AuditService, transport),
  notifications: createClient(NotificationService, transport),
};
