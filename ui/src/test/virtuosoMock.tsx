//! react-virtuoso measures the DOM, which jsdom can't do; tests get a plain list that renders
//! every group header and item in order, with the same callbacks. The latest props are kept in
//! `lastGroupedProps` so tests can call `startReached` etc. Like Virtuoso, it hands its scroller
//! to `scrollerRef` and holds the items in a `virtuoso-item-list` element (visible at once: the
//! list is "settled" from the start). Its handle records `scrollToIndex` calls in `scrolledTo`.

import { useCallback, useImperativeHandle, type ComponentType, type Ref } from "react";
import type { GroupedVirtuosoHandle, GroupedVirtuosoProps, IndexLocationWithAlign } from "react-virtuoso";

export let lastGroupedProps: GroupedVirtuosoProps<unknown, unknown> | null = null;

/** Every `scrollToIndex` asked of the list, oldest first (tests empty it). */
export const scrolledTo: (IndexLocationWithAlign | number)[] = [];

/** Whether the list is still settling: laid out with `visibility: hidden`, as Virtuoso does
 * until it has reached its initial item. Tests that set it reset it. */
export const settling = { hidden: false };

export function GroupedVirtuoso<D, C>(props: GroupedVirtuosoProps<D, C> & { ref?: Ref<GroupedVirtuosoHandle> }) {
  lastGroupedProps = props as GroupedVirtuosoProps<unknown, unknown>;
  useImperativeHandle(
    props.ref,
    () =>
      ({
        scrollToIndex: (location: IndexLocationWithAlign | number) => {
          scrolledTo.push(location);
        },
      }) as GroupedVirtuosoHandle,
    [],
  );
  const { scrollerRef } = props;
  const ref = useCallback((el: HTMLDivElement | null) => scrollerRef?.(el), [scrollerRef]);
  const { groupCounts = [], data = [], firstItemIndex = 0, context } = props;
  const components = (props.components ?? {}) as {
    Header?: ComponentType<{ context: C }>;
    Footer?: ComponentType<{ context: C }>;
  };
  const Header = components.Header;
  const Footer = components.Footer;
  const children: React.ReactNode[] = [];
  let index = 0;
  groupCounts.forEach((count, groupIndex) => {
    children.push(<div key={`group-${groupIndex}`}>{props.groupContent?.(groupIndex, context as C)}</div>);
    for (let k = 0; k < count; k++, index++) {
      const item = data[index] as D;
      const key = props.computeItemKey ? props.computeItemKey(firstItemIndex + index, item, context as C) : index;
      children.push(<div key={key}>{props.itemContent?.(firstItemIndex + index, groupIndex, item, context as C)}</div>);
    }
  });
  return (
    <div className={props.className} data-testid="virtuoso" ref={ref}>
      <div data-testid="virtuoso-item-list" style={settling.hidden ? { visibility: "hidden" } : undefined}>
        {Header ? <Header context={context as C} /> : null}
        {children}
        {Footer ? <Footer context={context as C} /> : null}
      </div>
    </div>
  );
}
