// Package images is berth's image pipeline, the part of a converge that
// comes before the plan: EnsureImages pulls and builds what the services
// need, by their pull policies (or up --pull/--build/--no-build), and
// returns the image IDs that reconcile's Diff compares with the
// containers' (a rebuilt image recreates its containers). Build,
// PullImages and PushImages are the build, pull and push commands;
// BuildTargets is what build --print shows; DownImages picks the images
// down --rmi removes (the removal itself is a reconcile plan step).
//
// BuildContext makes the tar stream of a build context as the docker CLI
// sends it to the classic builder (.dockerignore, a generated Dockerfile
// for dockerfile_inline), writing the tree with reconcile/hosttar;
// BuildIgnore gives a context's .dockerignore patterns to watch.
//
// It depends on reconcile for the progress vocabulary (Status,
// DefaultParallel) and the observed state; reconcile does not import it.
// It knows the runtime only through the service contract (the optional
// service.ImageTransfer and service.Builder).
package images
