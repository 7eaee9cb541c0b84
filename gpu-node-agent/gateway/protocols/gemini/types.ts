// Gemini request and response bodies, as far as the gateway reads or writes them, and the call ids it
// makes up where Gemini leaves them out.
export interface GeminiPart {
  text?: string;
  thought?: boolean;
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: { id?: string; name: string; response?: unknown };
  inlineData?: { mimeType: string; data: string };
  [other: string]: unknown;
}

interface GeminiContent {
  role?: 'user' | 'model' | 'function';
  parts: GeminiPart[];
}

interface FunctionDeclaration {
  name: string;
  description?: string;
  parameters?: unknown;
  parametersJsonSchema?: unknown;
}

export interface GeminiRequest {
  /** Set by the route from the URL. */
  model: string;
  stream: boolean;
  contents: GeminiContent[];
  systemInstruction?: { parts: GeminiPart[] } | string;
  tools?: { functionDeclarations?: FunctionDeclaration[]; [other: string]: unknown }[];
  toolConfig?: { functionCallingConfig?: { mode?: string; allowedFunctionNames?: string[] } };
  generationConfig?: {
    responseMimeType?: string;
    responseJsonSchema?: unknown;
    responseSchema?: unknown;
    temperature?: number;
    topP?: number;
    maxOutputTokens?: number;
    stopSequences?: string[];
    thinkingConfig?: { thinkingBudget?: number; includeThoughts?: boolean };
  };
}

export interface GeminiResponse {
  candidates: { content: { role: 'model'; parts: GeminiPart[] }; finishReason?: string; index: number }[];
  usageMetadata?: {
    promptTokenCount: number;
    candidatesTokenCount: number;
    totalTokenCount: number;
    cachedContentTokenCount?: number;
    thoughtsTokenCount?: number;
  };
  modelVersion: string;
  responseId: string;
}

/** The call id a function call without one gets: stable for the same conversation. */
export const syntheticId = (turn: number, index: number) => `call_${turn}_${index}`;
