// client-node's KubeConfig alone, for the configurations config.ts hands over to it. Imported
// dynamically through this module, never the package itself: `import('@kubernetes/client-node')`
// would keep every export of the package alive in the bundle (no tree-shaking of a namespace
// import), growing the chunk the webhook loads from 1.9 MB to 5 MB (about 12 MiB resident).
export { KubeConfig } from '@kubernetes/client-node';
