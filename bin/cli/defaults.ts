// Where a local control plane is when nothing says otherwise: shared by `dev` and the API commands.
export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = '.autovibe';
